"""Pass 1 of an undo: read the history of every record the change-set
touched, chunk by chunk, find the conflicts, and spool the writes for pass 2
(doctors.undo.writer)."""

import datetime
from collections.abc import Callable

from .. import periods
from ..bulk import tracked_columns
from ..ledger import erasure
from ..models import Department, Doctor, Membership
from ..runs.progress import Progress
from ..runs.spool import Spool
from .results import (
    CHECKING,
    CHUNK_SIZE,
    DELETE,
    LISTED_CONFLICTS,
    MODELS,
    PREVIEW_ROWS,
    RECREATE,
    UPDATE,
    Conflict,
    RowUndo,
    UndoResult,
)


class Planner:
    """Reads the history of every record the target change-set touched, chunk by
    chunk, and spools what to write: per model, per chunk,
    {action: [tracked values, ...]} (values in tracked_columns order)."""

    def __init__(self, result: UndoResult, spool: Spool, report: Progress):
        self.result = result
        self.spool = spool
        self.report = report
        self.target_id = result.target.pk
        # model -> number of chunks spooled, in order
        self.chunks: dict[str, int] = {}
        self.deleted_memberships: set[int] = set()
        # Every membership period the change-set wrote.
        self.memberships: set[int] = set()
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
        self.memberships = set(ids["membership"])
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
            self._check_periods([*planned[RECREATE], *planned[UPDATE]])
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
        self.spool.write(
            {action: [_plain(v) for v in values] for action, values in planned.items()}
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

    def _check_periods(self, restored: list[tuple]) -> None:
        """A period to restore (created again, or given its old dates back)
        that would overlap another period of its doctor in its department,
        one the change-set did not write (added since), is a conflict. A
        doctor may have several periods in a department: only overlapping
        days conflict."""
        if not restored:
            return
        columns = tracked_columns(Membership)
        doctor_at = columns.index("doctor_id")
        department_at = columns.index("department_id")
        joined_at, left_at = columns.index("joined_on"), columns.index("left_on")
        wanted: dict[tuple[int, int], list[tuple]] = {}
        for values in restored:
            key = (values[doctor_at], values[department_at])
            wanted.setdefault(key, []).append(values)
        others = Membership.objects.filter(
            doctor_id__in={pair[0] for pair in wanted}
        ).values_list("id", "doctor_id", "department_id", "joined_on", "left_on")
        for membership_id, doctor_id, department_id, joined_on, left_on in others:
            if membership_id in self.memberships:
                continue
            for values in wanted.get((doctor_id, department_id), []):
                if _overlap((values[joined_at], values[left_at]), (joined_on, left_on)):
                    self._conflict(
                        "membership",
                        values[0],
                        values,
                        _last_change_set(membership_id),
                        "the doctor was added to this department again since, "
                        f"{periods.describe(joined_on, left_on)}",
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


def _overlap(first: tuple, second: tuple) -> bool:
    """Whether two periods (first day, last day or None) share a day."""
    (a_first, a_last), (b_first, b_last) = first, second
    return (a_last is None or b_first <= a_last) and (
        b_last is None or a_first <= b_last
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


def from_plain(value):
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
    # A redo re-creates memberships of doctors and departments the undo
    # deleted: those are named from their last history row.
    gone = {doctor_id for doctor_id, _ in refs} - doctors.keys()
    for pk, first, last, license_number in (
        Doctor.history.filter(id__in=gone)
        .order_by("id", "history_id")
        .values_list("id", "first_name", "last_name", "license_number")
    ):
        doctors[pk] = f"Dr {first} {last} ({license_number})"
    gone = {department_id for _, department_id in refs} - departments.keys()
    departments.update(
        Department.history.filter(id__in=gone)
        .order_by("id", "history_id")
        .values_list("id", "name")
    )
    for item in items:
        if item.refs is not None:
            doctor_id, department_id = item.refs
            doctor = doctors.get(doctor_id, f"doctor #{doctor_id}")
            department = departments.get(department_id, f"department #{department_id}")
            item.text = f"{doctor} in {department}"


def _shown(value):
    return value.isoformat() if hasattr(value, "isoformat") else value
