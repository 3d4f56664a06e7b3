"""The settings refuse unsafe production configurations and survive Redis faults."""

import logging
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import caches
from django.test import override_settings

from clinic.logging import reset_rate_limits

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"}
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_secret_key():
    result = manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_deploy_check_is_clean_in_production_profile():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="clinic.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_malformed_boolean_is_refused_with_its_name():
    result = manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_cache_uses_short_socket_timeouts_and_ignores_redis_errors(settings):
    options = settings.CACHES["default"]["OPTIONS"]
    assert settings.CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache"
    assert options["SOCKET_TIMEOUT"] <= 1
    assert options["SOCKET_CONNECT_TIMEOUT"] <= 1
    assert options["IGNORE_EXCEPTIONS"] is True


def test_redis_down_reaches_the_project_log_once_not_per_request(caplog):
    """The settings send django-redis's ignored errors to the clinic.cache
    logger, whose rate limit keeps an outage from flooding the log."""
    unreachable = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            # Port 9 (discard) on loopback: nothing listens there.
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 0.2,
                "SOCKET_TIMEOUT": 0.2,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    reset_rate_limits("clinic.cache")
    with override_settings(CACHES=unreachable), caplog.at_level(logging.ERROR):
        for _ in range(5):
            caches["default"].get("anything")
    assert len([r for r in caplog.records if r.name == "clinic.cache"]) == 1
    reset_rate_limits("clinic.cache")


@pytest.mark.django_db
def test_real_redis_round_trip():
    cache = caches["default"]
    cache.set("round-trip", {"value": 1}, 10)
    assert cache.get("round-trip") == {"value": 1}


def project_files() -> list[str]:
    """The files a clone of this working copy has: tracked or new, never ignored."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return [name for name in listing.stdout.decode().split("\0") if name]


def test_a_fresh_clone_runs_migrate_and_plain_pytest_without_var(tmp_path):
    """No var/ folder yet and no make: `migrate` and a plain `pytest` both work.

    SQLite creates its file but not the folder; the settings create it.
    """
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no clone to reproduce")
    clone = tmp_path / "clone"
    for name in project_files():
        source = ROOT / name
        if source.is_file():
            target = clone / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    assert not (clone / "var").exists()
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CLINIC_VAR_DIR"}
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args],
            cwd=clone,
            env=environment,
            capture_output=True,
            text=True,
            timeout=240,
        )

    migrate = run("manage.py", "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    assert (clone / "var" / "clinic.sqlite3").is_file()
    shutil.rmtree(clone / "var")  # plain pytest must manage without it too
    quick_test = "tests/test_health.py::test_no_worker_and_nothing_waiting_is_healthy"
    pytest_run = run("-m", "pytest", "-q", "-p", "no:cacheprovider", quick_test)
    assert pytest_run.returncode == 0, pytest_run.stdout[-3000:]
    assert "1 passed" in pytest_run.stdout
