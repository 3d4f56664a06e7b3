"""Several processes, one truth: two gunicorn servers and two task workers share
one database and one Redis, as `make serve` and a real deployment run them.

The stack here runs the production settings (clinic.settings, DEBUG off) in
subprocesses, on a database of its own: PostgreSQL `<name>_multiprocess` when
DATABASE_URL names PostgreSQL (dropped afterwards), otherwise a SQLite file in a
temporary folder. Tests talk to it over HTTP only, like a browser would.
"""

import http.cookiejar
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import dj_database_url
import psycopg
import pytest
from django_redis.cache import RedisCache
from psycopg import sql

from tests.admin_forms import doctor_form

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

START_TIMEOUT = 60  # seconds for a server to accept connections
MAIL_TIMEOUT = 60  # seconds for the workers to send the welcome emails
ADMIN_USER = "ops-admin"
ADMIN_PASSWORD = "multi-process-" + secrets.token_urlsafe(12)
TEST_REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13")
GENERATION_KEY = "dashboard:generation"

# Pages that must show a change made through the *other* server on the very next
# request. Once the manager dashboard exists, its URL belongs here too.
PAGES_SHOWING_A_DOCTOR = ["/admin/doctors/doctor/?q={license}"]
# The dashboard is cached in Redis: server B warms it before the change and
# must not serve the warm copy after server A's change.
PAGES_SHOWING_THE_FEED = ["/admin/doctors/activityevent/", "/admin/dashboard/"]

if TEST_REDIS == "locmem":
    pytest.skip(
        "the multi-process tests need a real Redis shared by processes "
        "(REDIS_URL=locmem)",
        allow_module_level=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(
        f"server on port {port} did not start:\n{log.read_text()[-3000:]}"
    )


class Database:
    """A database of the stack's own, on the test run's server."""

    def __init__(self, tmp: Path):
        base = os.environ.get("DATABASE_URL", "")
        config = dj_database_url.parse(base) if base else {}
        self.postgres = config.get("ENGINE") == "django.db.backends.postgresql"
        if self.postgres:
            self.name = f"{config['NAME']}_multiprocess"
            parts = urllib.parse.urlsplit(base)
            self.url = urllib.parse.urlunsplit(parts._replace(path=f"/{self.name}"))
            self.params = {
                "host": config.get("HOST") or None,
                "port": config.get("PORT") or None,
                "user": config.get("USER") or None,
                "password": config.get("PASSWORD") or None,
                "dbname": "postgres",
                "autocommit": True,
                "connect_timeout": 5,
            }
        else:
            self.url = f"sqlite:///{tmp / 'clinic.sqlite3'}"

    def drop(self) -> None:
        if self.postgres:
            with psycopg.connect(**self.params) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.name)
                    )
                )

    def create(self) -> None:
        self.drop()
        if self.postgres:
            with psycopg.connect(**self.params) as conn:
                conn.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name))
                )


class Stack:
    """Two gunicorn servers and two task workers on one database and one Redis."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.mail = tmp / "mail"
        self.database = Database(tmp)
        self.prefix = f"clinic-mp-{os.getpid()}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "PYTEST_"))
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="clinic.settings",
            DEBUG="false",
            SERVE_INSECURE_LOCAL="true",
            SECRET_KEY=secrets.token_urlsafe(50),
            DATABASE_URL=self.database.url,
            REDIS_URL=TEST_REDIS,
            CACHE_KEY_PREFIX=self.prefix,
            CLINIC_VAR_DIR=str(tmp),
            # DEBUG is off: the servers need the collected, hashed static files.
            STATIC_ROOT=str(tmp / "static"),
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=str(self.mail),
            DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
            PYTHONUNBUFFERED="1",
        )
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        self.ports: list[int] = []

    def manage(self, *args: str) -> None:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        self.logs.append(log)
        return process

    def start(self) -> None:
        self.database.create()
        self.manage("migrate", "--noinput", "-v0")
        self.manage("collectstatic", "--noinput", "-v0")
        self.manage(
            "createsuperuser",
            "--noinput",
            "--username",
            ADMIN_USER,
            "--email",
            "ops@clinic.test",
        )
        for index in range(2):
            self.spawn(
                f"worker-{index}",
                [
                    sys.executable,
                    "manage.py",
                    "db_worker",
                    "--no-reload",
                    "--interval",
                    "0.2",
                ],
            )
        for index in range(2):
            port = free_port()
            server = self.spawn(
                f"gunicorn-{index}",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "clinic.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "1",
                    "--no-control-socket",
                    "--access-logfile",
                    "-",
                    "--timeout",
                    "30",
                ],
            )
            self.ports.append(port)
            wait_for_port(port, server, self.logs[-1])

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.cache().delete_pattern("*")
        self.database.drop()

    def cache(self) -> RedisCache:
        """The stack's cache, as its processes see it."""
        return RedisCache(
            TEST_REDIS,
            {"KEY_PREFIX": self.prefix, "OPTIONS": {"SOCKET_TIMEOUT": 1}},
        )

    def log_text(self) -> str:
        return "\n".join(log.read_text(errors="replace") for log in self.logs)

    def client(self, index: int) -> "AdminClient":
        return AdminClient(f"http://127.0.0.1:{self.ports[index]}")

    def mail_text(self) -> str:
        if not self.mail.exists():
            return ""
        return "\n".join(p.read_text(errors="replace") for p in self.mail.iterdir())


class AdminClient:
    """A logged-in admin session over HTTP; the session cookie can move between
    servers (sessions live in the shared database)."""

    def __init__(self, base: str, jar: http.cookiejar.CookieJar | None = None):
        self.base = base
        self.jar = jar or http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar)
        )

    def on(self, other_base: str) -> "AdminClient":
        return AdminClient(other_base, self.jar)

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            assert response.status == 200, path
            return response.read().decode()

    def post(self, path: str, data: dict) -> tuple[int, str]:
        page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token[1]})
        request = urllib.request.Request(
            self.base + path, body.encode(), headers={"Referer": self.base + path}
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.url
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def log_in(self, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD):
        status, where = self.post(
            "/admin/login/?next=/admin/",
            {"username": username, "password": password, "next": "/admin/"},
        )
        return status, where


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("production-stack"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def admin_on_both(stack):
    first = stack.client(0)
    status, where = first.log_in()
    assert (status, where) == (200, first.base + "/admin/"), stack.log_text()[-3000:]
    return first, first.on(stack.client(1).base)


def add_doctor(client: AdminClient, license_number: str, **fields) -> None:
    data = doctor_form(
        license_number=license_number,
        email=f"{license_number.lower()}@clinic.test",
        **fields,
    )
    status, where = client.post("/admin/doctors/doctor/add/", data)
    assert status == 200 and where.endswith("/admin/doctors/doctor/"), where


def test_change_through_one_server_shows_on_the_other_at_once(stack, admin_on_both):
    """A doctor added, then renamed, through server A is shown by server B on its
    very next request; A's commit bumps the cache generation both share."""
    server_a, server_b = admin_on_both
    add_doctor(server_a, "LIC-MP-1", last_name="Before")
    for page in PAGES_SHOWING_A_DOCTOR:
        assert "Before" in server_b.get(page.format(license="LIC-MP-1"))
    for page in PAGES_SHOWING_THE_FEED:
        assert "Before" in server_b.get(page)

    generation = stack.cache().get(GENERATION_KEY)
    change_page = server_a.get("/admin/doctors/doctor/?q=LIC-MP-1")
    pk = re.search(r'href="/admin/doctors/doctor/(\d+)/change/', change_page)[1]
    form = server_a.get(f"/admin/doctors/doctor/{pk}/change/")
    version = re.search(r'name="version" value="([^"]*)"', form)[1]
    data = doctor_form(
        license_number="LIC-MP-1",
        email="lic-mp-1@clinic.test",
        last_name="After",
        version=version,
    )
    status, where = server_a.post(f"/admin/doctors/doctor/{pk}/change/", data)
    assert status == 200 and where.endswith("/admin/doctors/doctor/"), where

    for page in PAGES_SHOWING_A_DOCTOR:
        text = server_b.get(page.format(license="LIC-MP-1"))
        assert "After" in text and "Before" not in text
    for page in PAGES_SHOWING_THE_FEED:
        assert "After" in server_b.get(page)
    assert generation is not None
    assert stack.cache().get(GENERATION_KEY) > generation


def test_welcome_email_is_sent_exactly_once_with_two_workers(stack, admin_on_both):
    """Two workers poll one queue; every new doctor gets one welcome email, not two."""
    server_a, server_b = admin_on_both
    licenses = [f"LIC-MAIL-{n}" for n in range(8)]
    for n, license_number in enumerate(licenses):
        add_doctor(server_a if n % 2 else server_b, license_number)
    addresses = [f"{lic.lower()}@clinic.test" for lic in licenses]

    deadline = time.monotonic() + MAIL_TIMEOUT
    while time.monotonic() < deadline:
        if all(f"To: {a}" in stack.mail_text() for a in addresses):
            break
        time.sleep(0.2)
    # Both workers poll every 0.2 s: a duplicate would have landed well within 2 s.
    time.sleep(2)
    mail = stack.mail_text()
    counts = {address: mail.count(f"To: {address}") for address in addresses}
    assert counts == dict.fromkeys(addresses, 1), stack.log_text()[-3000:]
    workers_log = "\n".join(
        log.read_text() for log in stack.logs if log.name.startswith("worker-")
    )
    # Every message on disk was sent by one task run; no run sent twice.
    sent = len(re.findall(r"^To: ", mail, flags=re.MULTILINE))
    assert sent == workers_log.count("Sent 1 welcome email(s)") >= len(addresses)


def test_failed_login_password_never_reaches_the_logs(stack):
    """A wrong password typed at either server appears in no process's output."""
    wrong = "Wr0ng-" + secrets.token_urlsafe(16)
    for index in range(2):
        status, _ = stack.client(index).log_in(password=wrong)
        assert status == 200  # the login form again, with its error
    time.sleep(0.5)  # let the servers flush their logs
    logs = stack.log_text()
    assert "POST /admin/login/" in logs
    assert wrong not in logs
