"""Run the project's code in a separate process against the test database."""

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """A DATABASE_URL for the database this test run uses."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def run_python(
    code: str, *, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess:
    """Run `code` after django.setup() in a new interpreter on the test database."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clinic.test_settings",
        "DATABASE_URL": test_database_url(),
        **env,
    }
    script = "import django\ndjango.setup()\n" + code
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_task_worker(*, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real task worker, as its own process, until the queue is empty."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clinic.test_settings",
        "DATABASE_URL": test_database_url(),
    }
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--batch",
            "--no-startup-delay",
            "--no-reload",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
