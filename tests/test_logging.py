"""clinic/logging.py: a failing dependency does not flood the log."""

import logging

from clinic.logging import RateLimitFilter


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
