"""The change being made now: a context variable holding who makes it and the
change-set it belongs to.

doctors.context opens and closes changes (a request, a command, a run) and
puts them here. The layers below it (models.py, bulk.py) read the current
change through these functions, so they import nothing above them. A context
variable rather than a thread-local keeps concurrent requests apart under
threads and async alike.
"""

from contextvars import ContextVar, Token
from typing import Any

_current: ContextVar[Any] = ContextVar("clinic_change", default=None)


def get() -> Any:
    """The current change (a doctors.context.ChangeContext), or None outside any."""
    return _current.get()


def enter(change: Any) -> Token:
    return _current.set(change)


def leave(token: Token) -> None:
    _current.reset(token)


def actor():
    """The signed-in user making the current change, or None."""
    change = _current.get()
    return None if change is None else change.actor


def change_set_for_write():
    """The change-set of the current write, opened if needed; None outside any
    change (a shell without acting_as): such writes belong to no change-set."""
    change = _current.get()
    return None if change is None else change.change_set_for_write()


def count(what: str, rows: int = 1) -> None:
    """Count rows written in the current change-set, by kind."""
    change = _current.get()
    if change is not None:
        change.count(what, rows)
