"""Logging filters: one line per record, and no flood from a failing dependency."""

import copy
import logging
import threading
import time

# Characters that end a line in a log file, a terminal or a log viewer, and the
# other control characters (a terminal runs escape sequences): written as
# visible escapes instead. A tab stays a tab.
_CONTROL_ESCAPES = {
    code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]
} | {
    ord("\t"): "\t",
    ord("\r"): "\\r",
    ord("\n"): "\\n",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
# Each line of a traceback or stack after the message starts with this, so no
# line of it (an exception message holds user values too) can pass for a record.
CONTINUATION_PREFIX = "    "


def escape_control_characters(text: str) -> str:
    """`text` on one line: CR, LF and other control characters escaped."""
    return text.translate(_CONTROL_ESCAPES)


def _indented(block: str) -> str:
    return "\n".join(
        CONTINUATION_PREFIX + escape_control_characters(line)
        for line in block.split("\n")
    )


class EscapeLineBreaksFilter(logging.Filter):
    """A record's message cannot start a new line of the log.

    Log lines carry values users typed (a username at login, a request path, a
    doctor's name), ours and third-party loggers' alike. Attached to every
    handler (settings.LOGGING), this writes CR, LF and other control
    characters in the message as escapes (`\\n`), and indents every line of an
    attached traceback, so whatever a value holds, each line that starts at the
    left margin is a real record. The record is copied, never changed: other
    handlers see it as it was.
    """

    def filter(self, record: logging.LogRecord) -> logging.LogRecord | bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # the formatter reports a broken record as usual
        escaped = escape_control_characters(message)
        if escaped == message and not record.exc_info and not record.stack_info:
            return True
        safe = copy.copy(record)
        safe.msg, safe.args = escaped, None
        if record.exc_info and not record.exc_text:
            safe.exc_text = logging.Formatter().formatException(record.exc_info)
        if safe.exc_text:
            safe.exc_text = _indented(safe.exc_text)
        if safe.stack_info:
            safe.stack_info = _indented(safe.stack_info)
        return safe


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
