"""Who is making the current change, from where, and in which change-set.

A middleware sets it for each request, a command from its --user option, an
import run or an undo for itself; signal receivers and bulk writers read it to
fill the feed and the history rows. A context variable (rather than a
thread-local) keeps concurrent requests apart under threads and async alike.

The change-set row is opened lazily, by the first write that needs it, so a
request that changes nothing leaves no change-set; it is closed (end time and
counts) when the block ends.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from . import current_change, on_commit
from .ledger import chain
from .models import ActivityEvent, ChangeSet


@dataclass
class ChangeContext:
    user: Any = None
    source: str = ActivityEvent.Source.SYSTEM
    # What the change-set is, in a few words ("Import of doctors.csv").
    description: str = ""
    reason: str = ""
    # The change-set an undo reverses.
    undoes: ChangeSet | None = None
    # Membership changes seen during this request, for the admin's message.
    membership_changes: list = field(default_factory=list)
    # Rows written in this change-set, by kind ("events", "doctor", ...).
    counts: Counter = field(default_factory=Counter)
    change_set: ChangeSet | None = None
    # History rows the bulk writers wrote down for the chain as they wrote
    # them (a ledger.written.WrittenRows, made by the first that does).
    written: Any = None
    _committed: bool = False
    _marker: Any = None

    @property
    def actor(self):
        user = self.user
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        return user

    def change_set_for_write(self) -> ChangeSet:
        """The change-set the current write belongs to; opened on first use.

        A change-set opened inside a transaction that was then rolled back is
        gone from the database: a later write in the same block opens a new one
        rather than pointing at a missing row.
        """
        if self.change_set is None or not self._change_set_alive():
            self._open()
        return self.change_set

    def count(self, what: str, rows: int = 1) -> None:
        if rows:
            self.counts[what] += rows

    def _open(self) -> None:
        actor = self.actor
        self.counts = Counter()
        self.change_set = ChangeSet.objects.create(
            actor=actor,
            actor_name=actor.get_username() if actor is not None else "",
            source=self.source,
            description=self.description[:255],
            reason=self.reason[:255],
            undoes=self.undoes,
        )
        self._committed = False
        connection = connections[router.db_for_write(ChangeSet)]

        def committed():
            self._committed = True

        self._marker = committed
        connection.on_commit(committed)

    def _change_set_alive(self) -> bool:
        if self._committed:
            return True
        # Django drops the on_commit callbacks of a transaction or savepoint it
        # rolls back: ours still pending means the row is still there.
        return on_commit.is_pending(self._marker, router.db_for_write(ChangeSet))

    def close(self) -> None:
        """Record the end time and the counts of the change-set, if one opened,
        and seal it into the history chain, in one transaction (the caller's,
        when the block ran inside one)."""
        if self.change_set is None or not self._change_set_alive():
            return
        if connections[router.db_for_write(ChangeSet)].needs_rollback:
            return  # the block failed; its transaction is being rolled back
        change_set = self.change_set
        change_set.ended_at = timezone.now()
        change_set.counts = dict(self.counts)
        if not self.description:
            from .activity import name_after_events

            self.description = name_after_events(change_set, self.counts)
        change_set.description = self.description[:255]
        change_set.reason = self.reason[:255]
        with transaction.atomic(using=router.db_for_write(ChangeSet), savepoint=False):
            ChangeSet.objects.filter(pk=change_set.pk).update(
                ended_at=change_set.ended_at,
                counts=change_set.counts,
                description=change_set.description,
                reason=change_set.reason,
            )
            chain.seal(change_set.pk, self.written)
        self.written = None


def current() -> ChangeContext:
    return current_change.get() or ChangeContext()


current_change_set = current_change.change_set_for_write
count = current_change.count


@contextmanager
def acting_as(
    user=None,
    source: str = ActivityEvent.Source.SYSTEM,
    *,
    description: str = "",
    reason: str = "",
    undoes: ChangeSet | None = None,
) -> Iterator[ChangeContext]:
    """Attribute every change made inside the block to `user` and `source`, as
    one change-set."""
    context = ChangeContext(
        user=user,
        source=source,
        description=description,
        reason=reason,
        undoes=undoes,
    )
    token = current_change.enter(context)
    try:
        yield context
    finally:
        current_change.leave(token)
        try:
            context.close()
        finally:
            if context.written is not None:
                context.written.close()  # the block ended unsealed
                context.written = None
