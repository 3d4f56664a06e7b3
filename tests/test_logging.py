"""clinic/logging.py: one line per record, and a failing dependency does not
flood the log."""

import io
import logging
import re

import pytest
from django.conf import settings
from django.urls import reverse

from clinic.logging import EscapeLineBreaksFilter, RateLimitFilter


def record(message="Exception ignored", exc=None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc else None
    return logging.LogRecord(
        "clinic.cache", logging.ERROR, __file__, 1, message, (), exc_info
    )


def test_one_record_per_kind_per_interval(monkeypatch):
    """Repeats within the interval are held back; the next one says how many."""
    now = [1000.0]
    monkeypatch.setattr("clinic.logging.time.monotonic", lambda: now[0])
    limit = RateLimitFilter(interval=60)
    refused = ConnectionRefusedError("refused")
    assert limit.filter(record(exc=refused))
    assert not any(limit.filter(record(exc=refused)) for _ in range(50))
    # Another kind of failure is reported at once.
    assert limit.filter(record(exc=TimeoutError("timed out")))
    now[0] += 61
    later = record(exc=refused)
    assert limit.filter(later)
    assert later.getMessage() == (
        "Exception ignored (50 more like this in the last 60 s were not logged)"
    )


def test_the_cache_logger_is_rate_limited_by_the_settings():
    filters = logging.getLogger("clinic.cache").filters
    assert any(isinstance(f, RateLimitFilter) for f in filters)


# --- One line per record ------------------------------------------------------

FORGED = "2026-11-30 09:00:00,000 WARNING clinic.security: Login ok for admin"
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


@pytest.fixture
def console_log():
    """What the configured console handler writes, the one every logger reaches."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def assert_one_line_per_record(text: str) -> None:
    lines = text.splitlines()
    assert lines, "nothing was logged"
    for line in lines:
        assert RECORD_START.match(line) or line.startswith("    "), line
    assert not any(line.startswith(FORGED) for line in lines)


def format_through_filter(record: logging.LogRecord) -> str:
    filtered = EscapeLineBreaksFilter().filter(record)
    assert filtered, "the filter never drops a record"
    if filtered is True:
        filtered = record
    return logging.Formatter("%(levelname)s %(message)s").format(filtered)


def test_line_breaks_in_values_are_escaped():
    record = logging.LogRecord(
        "axes",
        logging.WARNING,
        __file__,
        1,
        "Login by %s",
        ("a\r\nb\x1b[2J\u2028",),
        None,
    )
    assert format_through_filter(record) == "WARNING Login by a\\r\\nb\\x1b[2J\\u2028"
    # The record itself is left as it was for other handlers.
    assert record.getMessage() == "Login by a\r\nb\x1b[2J\u2028"


def test_tracebacks_stay_readable_and_every_line_of_them_is_indented():
    try:
        raise ValueError(f"bad name\n{FORGED}")
    except ValueError as error:
        exc_info = (type(error), error, error.__traceback__)
    record = logging.LogRecord(
        "doctors", logging.ERROR, __file__, 1, "Failed", (), exc_info
    )
    lines = format_through_filter(record).split("\n")
    assert lines[0] == "ERROR Failed"
    assert lines[1] == "    Traceback (most recent call last):"
    assert f"    {FORGED}" in lines
    assert all(line.startswith("    ") for line in lines[1:])


def test_every_configured_handler_escapes_line_breaks():
    """Not only the console: any handler in the settings carries the filter."""
    handlers = settings.LOGGING["handlers"]
    assert handlers
    for name, handler in handlers.items():
        assert "one_line" in handler.get("filters", []), name


@pytest.mark.parametrize(
    "logger_name",
    [
        "axes.handlers.database",
        "django.request",
        "django.security.DisallowedHost",
        "django_tasks_db",
        "doctors.tasks",
        "clinic.security",
    ],
)
def test_every_logger_writes_one_line_per_record(logger_name, console_log):
    """Ours and third-party loggers alike reach a handler that escapes."""
    logging.getLogger(logger_name).warning("Value: %s", f"x\n{FORGED}")
    assert console_log.getvalue().count("\n") == 1
    assert_one_line_per_record(console_log.getvalue())


def test_the_development_server_log_is_one_line_per_record():
    handler = next(
        h
        for h in logging.getLogger("django.server").handlers
        if h.name == "django.server"
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        logging.getLogger("django.server").info('"GET /%s HTTP/1.1" 404 0', "a\nb")
    finally:
        handler.setStream(previous)
    assert stream.getvalue().count("\n") == 1
    assert "/a\\nb" in stream.getvalue()


@pytest.mark.django_db
def test_a_username_with_a_line_break_cannot_forge_log_lines(client, console_log):
    """axes' failure and lockout warnings and ours carry the username escaped."""
    username = f"nurse\n{FORGED}"
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        client.post(
            reverse("admin:login"),
            {"username": username, "password": "wrong", "next": "/admin/"},
            REMOTE_ADDR="198.51.100.7",
            secure=True,
        )
    text = console_log.getvalue()
    assert "Locking out" in text and "Login refused" in text
    assert "nurse\\n2026-11-30 09:00:00,000 WARNING" in text
    assert_one_line_per_record(text)


@pytest.mark.django_db
def test_a_request_path_with_a_line_break_cannot_forge_log_lines(client, console_log):
    """django.request's "Not Found" warning names the decoded path."""
    response = client.get("/nowhere%0A" + FORGED.replace(" ", "%20"), secure=True)
    assert response.status_code == 404
    text = console_log.getvalue()
    assert "Not Found: /nowhere\\n2026-11-30" in text
    assert_one_line_per_record(text)
