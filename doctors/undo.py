"""Undoing an import run (and redoing it, by undoing the undo).

An undo reverses one change-set from the history tables: every doctor,
department and membership the change-set wrote a history row for gets the
state its history had just before the change-set. Rows the change-set created
are deleted, rows it deleted are created again with the same ids, every field
it changed gets its previous value. The undo is itself one change-set (with an
`undoes` link), so undoing it redoes the import.

A row that another change-set changed after the one being undone is a
conflict: the undo is refused and lists those rows, and nothing changes,
unless the caller asks to undo only the untouched rows.

Like the importer, this is a bulk path: pass 1 reads the history per chunk of
ids, finds the conflicts and spools the planned writes to a temporary file;
pass 2 writes them with prepared statements (doctors.bulk), with their history
rows in bulk, then one feed event and one cache bump. Memory stays flat: one
chunk of history rows plus the ids of the memberships being deleted.
"""

import datetime
import marshal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.tasks import task
from django.utils import timezone

from . import activity, context
from .bulk import (
    delete_rows,
    insert_history_rows,
    insert_rows,
    tracked_columns,
    update_rows,
)
from .importing import progress as import_progress
from .ledger import erasure
from .models import ActivityEvent, ChangeSet, Department, Doctor, ImportRun, Membership

CHUNK_SIZE = 2000
PREVIEW_ROWS = 200
LISTED_CONFLICTS = 200

# progress(phase, objects done, objects in total)
Progress = Callable[[str, int, int | None], None]
CHECKING = "checking"
WRITING = "writing"

MODELS: dict[str, type[Model]] = {
    "membership": Membership,
    "doctor": Doctor,
    "department": Department,
}
DELETE, UPDATE, RECREATE = "delete", "update", "recreate"
ACTION_TEXT = {DELETE: "deleted", UPDATE: "restored", RECREATE: "created again"}


class UndoError(Exception):
    """The run cannot be undone (never imported, nothing written, ...)."""


@dataclass
class RowUndo:
    """One row of the preview: what the undo does to one record."""

    model: str
    id: int
    action: str
    text: str
    # field -> [value now, value after the undo]
    changes: dict[str, list[Any]] = field(default_factory=dict)
    # A membership's doctor and department ids, for naming them.
    refs: tuple[int, int] | None = None


@dataclass
class Conflict:
    """A record the run touched that another change-set changed afterwards."""

    model: str
    id: int
    text: str
    change_set_id: int | None
    reason: str
    refs: tuple[int, int] | None = None

    def __str__(self) -> str:
        by = f" by change-set #{self.change_set_id}" if self.change_set_id else ""
        return f"{self.model} #{self.id} {self.text}: {self.reason}{by}"


@dataclass
class UndoResult:
    run: ImportRun
    target: ChangeSet
    redo: bool
    dry_run: bool
    untouched_only: bool = False
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rows: list[RowUndo] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    conflict_count: int = 0
    problem: str = ""
    change_set: ChangeSet | None = None
    duration: float = 0.0

    @property
    def refused(self) -> bool:
        return bool(self.problem) or (
            self.conflict_count > 0 and not self.untouched_only
        )

    @property
    def verb(self) -> str:
        return "Redid" if self.redo else "Undid"

    @property
    def total(self) -> int:
        return sum(sum(actions.values()) for actions in self.counts.values())

    def counts_text(self) -> str:
        parts = []
        for model, actions in self.counts.items():
            done = ", ".join(
                f"{count} {ACTION_TEXT[action]}" for action, count in actions.items()
            )
            if done:
                parts.append(f"{model}s: {done}")
        return "; ".join(parts) or "nothing to change"

    def summary(self) -> str:
        what = "redo" if self.redo else "undo"
        run = f"import #{self.run.pk} ({self.run.file_name})"
        if self.problem:
            return f"Cannot {what} {run}: {self.problem}"
        if self.conflict_count and not self.untouched_only:
            noun = "record was" if self.conflict_count == 1 else "records were"
            return (
                f"Cannot {what} {run}: {self.conflict_count} {noun} changed "
                "afterwards by other changes; nothing was changed."
            )
        if self.dry_run:
            return f"The {what} of {run} would change: {self.counts_text()}."
        count = self.conflict_count
        if count == 1:
            skipped = " 1 record changed afterwards was left as it is."
        elif count:
            skipped = f" {count} records changed afterwards were left as they are."
        else:
            skipped = ""
        return f"{self.verb} {run}: {self.counts_text()}.{skipped}"


# The chain of a run: its import, the undo, the undo of the undo, ... -----------


def chain_end(run: ImportRun) -> tuple[ChangeSet, bool]:
    """The change-set an undo of `run` reverses now, and whether that is a redo
    (the import is currently undone)."""
    if run.change_set_id is None:
        raise UndoError(
            "this run wrote nothing that can be undone (only a confirmed import "
            "that changed data can be)."
        )
    target = run.change_set
    depth = 0
    while True:
        later = target.undone_by.order_by("-pk").first()
        if later is None:
            return target, depth % 2 == 1
        target = later
        depth += 1


def can_undo(user, run: ImportRun) -> bool:
    """Clinic staff undo their own runs; superusers any run."""
    if not user.has_perm("doctors.undo_importrun"):
        return False
    return user.is_superuser or (run.user_id is not None and run.user_id == user.pk)


def is_undone(run: ImportRun) -> bool:
    return run.change_set_id is not None and chain_end(run)[1]


# Entry points ---------------------------------------------------------------------


def preview_undo(run: ImportRun, *, untouched_only: bool = False) -> UndoResult:
    """What an undo (or redo) of `run` would do, writing nothing."""
    target, redo = chain_end(run)
    result = UndoResult(
        run=run,
        target=target,
        redo=redo,
        dry_run=True,
        untouched_only=untouched_only,
    )
    with tempfile.TemporaryFile() as spool:
        _Planner(result, spool, lambda *args: None).plan()
    return result


def undo_import(
    run: ImportRun,
    *,
    user=None,
    source: str = ActivityEvent.Source.ADMIN,
    untouched_only: bool = False,
    reason: str = "",
    progress: Progress | None = None,
) -> UndoResult:
    """Undo `run` (or redo it, when it is undone) as one new change-set.

    Refused, writing nothing, when a record it touched was changed afterwards,
    unless `untouched_only`: then those records are left as they are.
    """
    started = time.perf_counter()
    report = progress or (lambda phase, done, total: None)
    actor = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        # One undo of a run at a time: the second waits, then sees the first.
        run = ImportRun.objects.select_for_update().get(pk=run.pk)
        target, redo = chain_end(run)
        result = UndoResult(
            run=run,
            target=target,
            redo=redo,
            dry_run=False,
            untouched_only=untouched_only,
        )
        verb = "Redid" if redo else "Undid"
        with context.acting_as(
            actor,
            source=source,
            description=f"{verb} import #{run.pk} ({run.file_name})",
            reason=reason,
            undoes=target,
        ) as change:
            _lock()
            with tempfile.TemporaryFile() as spool:
                planner = _Planner(result, spool, report)
                planner.plan()
                if not result.refused and result.total:
                    try:
                        with transaction.atomic():
                            _Writer(spool, planner, report).write()
                    except IntegrityError as error:
                        result.problem = (
                            "restoring the rows would break a rule of the data "
                            f"({error}); nothing was changed. Records changed "
                            "afterwards probably depend on rows this undo restores."
                        )
                    else:
                        activity.record_bulk(
                            verb=ActivityEvent.Verb.UNDONE,
                            target_type=_target_type(run),
                            description=f"{verb} import #{run.pk}",
                            counts={
                                "import_run": run.pk,
                                "file": run.file_name,
                                "undoes": target.pk,
                                **{
                                    f"{model}s {ACTION_TEXT[action]}": count
                                    for model, actions in result.counts.items()
                                    for action, count in actions.items()
                                },
                            },
                        )
        if not result.refused and result.total:
            result.change_set = change.change_set
    result.duration = time.perf_counter() - started
    report("done", result.total, result.total)
    return result


def _target_type(run: ImportRun) -> str:
    return "doctor" if run.kind == ImportRun.Kind.DOCTORS else "department"


def _lock() -> None:
    """Keep other writers out while the undo checks and writes (as the
    importer does); SQLite's IMMEDIATE transactions already hold the lock."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(
        connection.ops.quote_name(m._meta.db_table) for m in MODELS.values()
    )
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")


# Pass 1: plan ---------------------------------------------------------------------


class _Planner:
    """Reads the history of every record the target change-set touched, chunk by
    chunk, and spools what to write: per model, per chunk,
    {action: [tracked values, ...]} (values in tracked_columns order)."""

    def __init__(self, result: UndoResult, spool, report: Progress):
        self.result = result
        self.spool = spool
        self.report = report
        self.target_id = result.target.pk
        # model -> number of chunks spooled, in order
        self.chunks: dict[str, int] = {}
        self.deleted_memberships: set[int] = set()
        # Ids of the current chunk's records in conflict (all of them; the
        # result lists only the first ones).
        self.chunk_conflicts: set[int] = set()
        self.done = 0
        self.total = 0

    def plan(self) -> None:
        # Restoring rows of an erased doctor could bring their personal data
        # back: that refusal comes before (and instead of) any other.
        self.result.problem = erasure.undo_refusal(self.target_id)
        if self.result.problem:
            return
        ids = {
            name: list(
                model.history.filter(change_set_id=self.target_id)
                .order_by("id")
                .values_list("id", flat=True)
                .distinct()
            )
            for name, model in MODELS.items()
        }
        self.total = sum(len(values) for values in ids.values())
        self.report(CHECKING, 0, self.total)
        # Memberships first: a doctor or department can only go when every
        # membership that points at it goes too.
        for name, model in MODELS.items():
            self.chunks[name] = 0
            object_ids = ids[name]
            for start in range(0, len(object_ids), CHUNK_SIZE):
                self._plan_chunk(name, model, object_ids[start : start + CHUNK_SIZE])
        self.report(CHECKING, self.total, self.total)
        self.result.conflicts.sort(key=lambda c: (c.model, c.id))
        _name_memberships([*self.result.rows, *self.result.conflicts])

    def _plan_chunk(self, name: str, model, object_ids: list[int]) -> None:
        columns = tracked_columns(model)
        width = len(columns)
        history = model.history.filter(id__in=object_ids).order_by("id", "history_id")
        rows = history.values_list(*columns, "history_type", "change_set_id")
        by_object: dict[int, list[tuple]] = {}
        for row in rows.iterator(chunk_size=CHUNK_SIZE):
            by_object.setdefault(row[0], []).append(row)

        self.chunk_conflicts = set()
        planned: dict[str, list[tuple]] = {DELETE: [], UPDATE: [], RECREATE: []}
        current: dict[str, list[tuple]] = {DELETE: [], UPDATE: [], RECREATE: []}
        for object_id in object_ids:
            records = by_object.get(object_id, [])
            positions = [
                i for i, r in enumerate(records) if r[width + 1] == self.target_id
            ]
            first, last = positions[0], positions[-1]
            after = records[last]
            others = [r for r in records[first:] if r[width + 1] != self.target_id]
            if others:
                latest = others[-1]
                self._conflict(
                    name,
                    object_id,
                    records[-1][:width],
                    latest[width + 1],
                    "deleted afterwards"
                    if latest[width] == "-"
                    else "changed afterwards",
                )
                continue
            before = records[first - 1] if first > 0 else None
            existed_before = before is not None and before[width] != "-"
            exists_now = after[width] != "-"
            if not existed_before and records[first][width] == "~":
                self._conflict(
                    name,
                    object_id,
                    after[:width],
                    None,
                    "no earlier history to restore",
                )
                continue
            if exists_now and not existed_before:
                planned[DELETE].append(after[:width])
            elif exists_now:
                if before[:width] != after[:width]:
                    planned[UPDATE].append(before[:width])
                    current[UPDATE].append(after[:width])
            elif existed_before:
                planned[RECREATE].append(before[:width])

        if name == "membership":
            self._check_membership_pairs(planned[RECREATE])
            self.deleted_memberships.update(
                v[0] for v in planned[DELETE] if v[0] not in self.chunk_conflicts
            )
        else:
            self._check_still_referenced(name, planned[DELETE])
        self._keep(name, model, columns, planned, current)
        self.done += len(object_ids)
        self.report(CHECKING, self.done, self.total)

    def _keep(self, name, model, columns, planned, current) -> None:
        """Count and list the chunk's writes (all but the conflicts) and spool
        them for pass 2 unless the undo is refused anyway."""
        skipped = self.chunk_conflicts
        for action in (DELETE, UPDATE, RECREATE):
            kept = [v for v in planned[action] if v[0] not in skipped]
            now_values = {v[0]: v for v in current[action]}
            planned[action] = kept
            if kept:
                counts = self.result.counts.setdefault(name, {})
                counts[action] = counts.get(action, 0) + len(kept)
            for values in kept:
                if len(self.result.rows) >= PREVIEW_ROWS:
                    break
                self.result.rows.append(
                    _row_undo(name, model, columns, action, values, now_values)
                )
        if self.result.dry_run or self.result.refused:
            return
        marshal.dump(
            {action: [_plain(v) for v in values] for action, values in planned.items()},
            self.spool,
        )
        self.chunks[name] += 1

    def _conflict(self, name, object_id, values, change_set_id, reason) -> None:
        if object_id in self.chunk_conflicts:
            return
        self.chunk_conflicts.add(object_id)
        self.result.conflict_count += 1
        if len(self.result.conflicts) < LISTED_CONFLICTS:
            if callable(change_set_id):
                change_set_id = change_set_id()
            columns = tracked_columns(MODELS[name])
            self.result.conflicts.append(
                Conflict(
                    name,
                    object_id,
                    _text(name, MODELS[name], columns, values),
                    change_set_id,
                    reason,
                    refs=_refs(name, columns, values),
                )
            )

    def _check_membership_pairs(self, recreates: list[tuple]) -> None:
        """A membership to create again whose doctor is in that department
        again by now (a newer membership) is a conflict."""
        if not recreates:
            return
        columns = tracked_columns(Membership)
        doctor_at = columns.index("doctor_id")
        department_at = columns.index("department_id")
        wanted = {(v[doctor_at], v[department_at]): v for v in recreates}
        existing = Membership.objects.filter(
            doctor_id__in={pair[0] for pair in wanted}
        ).values_list("id", "doctor_id", "department_id")
        for membership_id, doctor_id, department_id in existing:
            values = wanted.get((doctor_id, department_id))
            if values is not None and values[0] != membership_id:
                self._conflict(
                    "membership",
                    values[0],
                    values,
                    _last_change_set(membership_id),
                    "the doctor was added to this department again since",
                )

    def _check_still_referenced(self, name: str, deletes: list[tuple]) -> None:
        """A doctor or department to delete that a membership made since (not by
        this run) points at is a conflict."""
        if not deletes:
            return
        side = f"{name}_id"
        ids = [v[0] for v in deletes]
        values_by_id = {v[0]: v for v in deletes}
        referencing = Membership.objects.filter(**{f"{side}__in": ids}).values_list(
            "id", side
        )
        reported = set()
        for membership_id, object_id in referencing:
            if membership_id in self.deleted_memberships or object_id in reported:
                continue
            reported.add(object_id)
            self._conflict(
                name,
                object_id,
                values_by_id[object_id],
                _last_change_set(membership_id),
                "a membership this undo leaves in place still points at it",
            )


def _last_change_set(membership_id: int) -> Callable[[], int | None]:
    """The change-set that last wrote a membership, looked up only for the
    conflicts listed."""

    def lookup() -> int | None:
        return (
            Membership.history.filter(id=membership_id)
            .order_by("-history_id")
            .values_list("change_set_id", flat=True)
            .first()
        )

    return lookup


def _plain(values: tuple) -> tuple:
    """Marshal-friendly values (dates and datetimes as tagged tuples)."""
    return tuple(_to_plain(v) for v in values)


def _to_plain(value):
    if isinstance(value, datetime.datetime):
        return ("dt", value.isoformat())
    if isinstance(value, datetime.date):
        return ("d", value.isoformat())
    return value


def _from_plain(value):
    if isinstance(value, tuple):
        kind, text = value
        if kind == "dt":
            return datetime.datetime.fromisoformat(text)
        return datetime.date.fromisoformat(text)
    return value


def _text(name: str, model, columns, values) -> str:
    row = dict(zip(columns, values, strict=False))
    if name == "doctor":
        return f"Dr {row['first_name']} {row['last_name']} ({row['license_number']})"
    if name == "department":
        return f"{row['name']} ({row['code']})"
    return f"doctor #{row['doctor_id']} in department #{row['department_id']}"


def _row_undo(name, model, columns, action, values, current) -> RowUndo:
    changes = {}
    if action == UPDATE:
        now = current[values[0]]
        changes = {
            column: [_shown(now[i]), _shown(values[i])]
            for i, column in enumerate(columns)
            if now[i] != values[i] and column not in ("updated_at",)
        }
    return RowUndo(
        name,
        values[0],
        action,
        _text(name, model, columns, values),
        changes,
        refs=_refs(name, columns, values),
    )


def _refs(name: str, columns, values) -> tuple[int, int] | None:
    if name != "membership":
        return None
    row = dict(zip(columns, values, strict=False))
    return row["doctor_id"], row["department_id"]


def _name_memberships(items: list) -> None:
    """Name the doctors and departments of the listed membership rows (two
    queries for the whole list)."""
    refs = [item.refs for item in items if item.refs is not None]
    if not refs:
        return
    doctors = {
        pk: f"Dr {first} {last} ({license_number})"
        for pk, first, last, license_number in Doctor.objects.filter(
            pk__in={doctor_id for doctor_id, _ in refs}
        ).values_list("pk", "first_name", "last_name", "license_number")
    }
    departments = dict(
        Department.objects.filter(
            pk__in={department_id for _, department_id in refs}
        ).values_list("pk", "name")
    )
    for item in items:
        if item.refs is not None:
            doctor_id, department_id = item.refs
            doctor = doctors.get(doctor_id, f"doctor #{doctor_id}")
            department = departments.get(department_id, f"department #{department_id}")
            item.text = f"{doctor} in {department}"


def _shown(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


# Pass 2: write ---------------------------------------------------------------------


class _Writer:
    """Writes the spooled plan in an order the constraints allow: memberships
    out of the way first (removed, or made plain members), then doctors and
    departments, then memberships back in with their roles."""

    def __init__(self, spool, planner: _Planner, report: Progress):
        self.spool = spool
        self.planner = planner
        self.report = report
        self.now = timezone.now()
        self.done = 0
        self.total = planner.result.total

    def write(self) -> None:
        self.report(WRITING, 0, self.total)
        membership_chunks = list(self._chunks("membership"))
        columns = tracked_columns(Membership)
        role_at, primary_at = columns.index("role"), columns.index("is_primary")
        for chunk in membership_chunks:
            self._delete(Membership, chunk[DELETE])
            # Plain members first: one head per department and one primary
            # department per doctor hold at every statement.
            update_rows(
                Membership,
                ["role", "is_primary"],
                [(Membership.Role.MEMBER, False, v[0]) for v in chunk[UPDATE]],
            )
        for name in ("doctor", "department"):
            model = MODELS[name]
            for chunk in self._chunks(name):
                self._delete(model, chunk[DELETE])
                self._update(model, chunk[UPDATE])
                self._recreate(model, chunk[RECREATE])
        for chunk in membership_chunks:
            self._recreate(Membership, chunk[RECREATE])
            update_rows(
                Membership,
                ["role", "is_primary"],
                [(v[role_at], v[primary_at], v[0]) for v in chunk[UPDATE]],
            )
            self._history(Membership, chunk[UPDATE], "~")
            self.done += len(chunk[UPDATE])
        # Deferred foreign keys are checked now, inside the savepoint, so a
        # membership left pointing at a deleted row undoes the whole write.
        connection.check_constraints(
            table_names=[m._meta.db_table for m in MODELS.values()]
        )
        self.report(WRITING, self.total, self.total)

    def _chunks(self, name: str):
        """The spooled chunks of `name`, read back in order."""
        self.spool.flush()
        self.spool.seek(0)
        for model_name, count in self.planner.chunks.items():
            for _ in range(count):
                chunk = marshal.load(self.spool)
                if model_name == name:
                    yield {
                        action: [tuple(_from_plain(x) for x in v) for v in values]
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


# In the worker --------------------------------------------------------------------


@task()
def run_queued_undo(
    run_id: int, user_id: int | None, untouched_only: bool, reason: str
) -> str:
    """Undo (or redo) ImportRun `run_id` in the worker, reporting progress."""
    from django.contrib.auth import get_user_model

    run = ImportRun.objects.get(pk=run_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    reporter = progress_reporter(run_id)
    try:
        result = undo_import(
            run,
            user=user,
            source=ActivityEvent.Source.ADMIN,
            untouched_only=untouched_only,
            reason=reason,
            progress=reporter,
        )
    except Exception:
        set_progress(run_id, phase="failed", message="The undo stopped on an error.")
        raise
    set_progress(
        run_id,
        phase="refused" if result.refused else "done",
        message=result.summary(),
    )
    return result.summary()


def _progress_key(run_id: int) -> str:
    return f"undo-progress:{run_id}"


def read_progress(run_id: int) -> dict[str, Any] | None:
    from django.core.cache import cache

    return cache.get(_progress_key(run_id))


def clear_progress(run_id: int) -> None:
    from django.core.cache import cache

    cache.delete(_progress_key(run_id))


def set_progress(run_id: int, **values) -> None:
    from django.core.cache import cache

    current = read_progress(run_id) or {}
    cache.set(
        _progress_key(run_id),
        {**current, **values},
        timeout=import_progress.TIMEOUT_SECONDS,
    )


def progress_reporter(run_id: int) -> Progress:
    def report(phase: str, done: int, total: int | None) -> None:
        finished = total is not None and done >= total
        if done % import_progress.EVERY_ROWS == 0 or finished:
            set_progress(run_id, phase=phase, done=done, total=total)

    return report
