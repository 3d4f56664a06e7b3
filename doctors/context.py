"""Who is making the current change, and from where.

A middleware sets it for each request, a command from its --user option; signal
receivers read it to fill the feed. A context variable (rather than a
thread-local) keeps concurrent requests apart under threads and async alike.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .models import ActivityEvent


@dataclass
class ChangeContext:
    user: Any = None
    source: str = ActivityEvent.Source.SYSTEM
    # Membership changes seen during this request, for the admin's message.
    membership_changes: list = field(default_factory=list)

    @property
    def actor(self):
        user = self.user
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        return user


_current: ContextVar[ChangeContext | None] = ContextVar("clinic_change", default=None)


def current() -> ChangeContext:
    return _current.get() or ChangeContext()


@contextmanager
def acting_as(
    user=None, source: str = ActivityEvent.Source.SYSTEM
) -> Iterator[ChangeContext]:
    """Attribute every change made inside the block to `user` and `source`."""
    context = ChangeContext(user=user, source=source)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
