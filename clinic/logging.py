"""Logging filters: keep a failing dependency from flooding the log."""

import logging
import threading
import time


class RateLimitFilter(logging.Filter):
    """Let one record per kind through every `interval` seconds.

    A kind is the message template, level and exception class, so "Redis
    refused the connection" and "Redis timed out" are reported separately. With
    Redis down every request fails the same way; the log gets one line per
    interval, and the next line that passes says how many were held back.
    """

    def __init__(self, interval: float = 60.0, name: str = "") -> None:
        super().__init__(name)
        self.interval = float(interval)
        self._lock = threading.Lock()
        self._seen: dict[tuple, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc_type = record.exc_info[0].__name__ if record.exc_info else ""
        kind = (record.name, record.levelno, str(record.msg), exc_type)
        now = time.monotonic()
        with self._lock:
            last, held_back = self._seen.get(kind, (None, 0))
            if last is not None and now - last < self.interval:
                self._seen[kind] = (last, held_back + 1)
                return False
            self._seen[kind] = (now, 0)
        if held_back:
            record.msg = f"{record.msg} ({held_back} more like this in the last "
            record.msg += f"{self.interval:g} s were not logged)"
        return True

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


def reset_rate_limits(logger_name: str) -> None:
    """Forget what the rate limits of `logger_name` have seen (for tests)."""
    for log_filter in logging.getLogger(logger_name).filters:
        if isinstance(log_filter, RateLimitFilter):
            log_filter.reset()
