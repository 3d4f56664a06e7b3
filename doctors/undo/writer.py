"""Pass 2 of an undo: write the spooled plan (doctors.undo.planner) with
prepared statements (doctors.bulk), with the history rows in bulk."""

from django.db import connection
from django.utils import timezone

from .. import context
from ..bulk import (
    delete_rows,
    insert_history_rows,
    insert_rows,
    tracked_columns,
    update_rows,
)
from ..models import Department, Doctor, Membership
from ..runs.progress import Progress
from ..runs.spool import Spool
from .planner import Planner, from_plain
from .results import DELETE, MODELS, RECREATE, UPDATE, WRITING


class Writer:
    """Writes the spooled plan in an order the rules allow.

    Memberships are periods, and the rules hold between periods (no overlap
    for a doctor in a department, one head of a department and one primary
    department of a doctor on any day). The periods the undo changes or
    deletes go first, every one; those it changes or creates come back last,
    as they will stand. In between, the database holds the periods the undo
    leaves alone and some of the restored ones: part of the state the undo
    restores, so no statement passes through a state the rules refuse,
    whatever the order of the rows. Changed periods keep their ids and get a
    history row of a change ("~").
    """

    def __init__(self, spool: Spool, planner: Planner, report: Progress):
        self.spool = spool
        self.planner = planner
        self.report = report
        self.now = timezone.now()
        self.done = 0
        self.total = planner.result.total

    def write(self) -> None:
        self.report(WRITING, 0, self.total)
        membership_chunks = list(self._chunks("membership"))
        for chunk in membership_chunks:
            self._delete(Membership, chunk[DELETE])
            delete_rows(Membership, [v[0] for v in chunk[UPDATE]])
        for name in ("doctor", "department"):
            model = MODELS[name]
            for chunk in self._chunks(name):
                self._delete(model, chunk[DELETE])
                self._update(model, chunk[UPDATE])
                self._recreate(model, chunk[RECREATE])
        columns = tracked_columns(Membership)
        for chunk in membership_chunks:
            insert_rows(Membership, columns, chunk[UPDATE])
            self._history(Membership, chunk[UPDATE], "~")
            self._progress(len(chunk[UPDATE]))
            self._recreate(Membership, chunk[RECREATE])
        # Deferred foreign keys are checked now, inside the savepoint, so a
        # membership left pointing at a deleted row undoes the whole write.
        connection.check_constraints(
            table_names=[m._meta.db_table for m in MODELS.values()]
        )
        self.report(WRITING, self.total, self.total)

    def _chunks(self, name: str):
        """The spooled chunks of `name`, read back in order."""
        chunks = self.spool.chunks()
        for model_name, count in self.planner.chunks.items():
            for _ in range(count):
                chunk = next(chunks)
                if model_name == name:
                    yield {
                        action: [tuple(from_plain(x) for x in v) for v in values]
                        for action, values in chunk.items()
                    }

    def _delete(self, model, rows) -> None:
        if not rows:
            return
        delete_rows(model, [v[0] for v in rows])
        self._history(model, rows, "-")
        self._progress(len(rows))

    def _update(self, model, rows) -> None:
        if not rows:
            return
        columns = tracked_columns(model)
        names, values = self._with_timestamp(model, columns, rows)
        update_rows(model, names[1:], [(*v[1:], v[0]) for v in values])
        self._history(model, self._history_values(model, columns, values), "~")
        self._progress(len(rows))

    def _recreate(self, model, rows) -> None:
        if not rows:
            return
        columns = tracked_columns(model)
        names, values = self._with_timestamp(model, columns, rows)
        insert_rows(model, names, values)
        self._history(model, self._history_values(model, columns, values), "+")
        self._progress(len(rows))

    def _with_timestamp(self, model, columns, rows):
        """The row values to write: a doctor's or department's "last change"
        is now (the doctor's is not kept in its history)."""
        if model is Doctor:
            return [*columns, "updated_at"], [(*v, self.now) for v in rows]
        if model is Department:
            at = columns.index("updated_at")
            return columns, [(*v[:at], self.now, *v[at + 1 :]) for v in rows]
        return columns, rows

    def _history_values(self, model, columns, values):
        return [v[: len(columns)] for v in values]

    def _history(self, model, rows, history_type: str) -> None:
        if not rows:
            return
        current = context.current()
        actor = current.actor
        insert_history_rows(
            model,
            tracked_columns(model),
            rows,
            history_type=history_type,
            when=self.now,
            user_id=actor.pk if actor is not None else None,
            reason=(current.description or "Undo")[:100],
        )

    def _progress(self, rows: int) -> None:
        self.done += rows
        self.report(WRITING, self.done, self.total)
