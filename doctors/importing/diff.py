"""What a chunk of clean rows would change, found by comparing with the database.

One query per chunk reads the doctors (by license number) and one their
memberships; the plan holds plain tuples, ready for the bulk writer.
"""

import datetime
import hashlib
from dataclasses import dataclass, field
from typing import Any

from .. import periods
from ..models import Department, Doctor, Membership
from ..resources import DEPARTMENT_FIELDS, DOCTOR_FIELDS
from .validation import DepartmentRow, DoctorRow
from .values import format_bool, format_departments

HEAD = Membership.Role.HEAD
MEMBER = Membership.Role.MEMBER
# Bytes of one row's fingerprint (see `fingerprint`).
FINGERPRINT_SIZE = 8
ABSENT = b"\0" * FINGERPRINT_SIZE


def fingerprint(state: Any) -> bytes:
    """A short digest of what the database holds for one row of the file: the
    preview stores it, and confirm compares it to tell whether the row changed."""
    return hashlib.blake2b(repr(state).encode(), digest_size=FINGERPRINT_SIZE).digest()


@dataclass(slots=True)
class RowChange:
    """What an import does to one row, for the preview."""

    row: int
    key: str
    action: str  # "new", "updated" or "unchanged"
    changes: dict[str, list[Any]]


# A membership period as the plans and the writer hold it: the order of the
# membership history columns.
MEMBERSHIP_COLUMNS = (
    "id",
    "role",
    "joined_on",
    "left_on",
    "is_primary",
    "doctor_id",
    "department_id",
)
ID, ROLE, JOINED, LEFT, PRIMARY, DOCTOR, DEPARTMENT = range(len(MEMBERSHIP_COLUMNS))
# A period to create, as both imports' writers insert it.
NEW_MEMBERSHIP_COLUMNS = (
    "doctor_id",
    "department_id",
    "role",
    "joined_on",
    "left_on",
    "is_primary",
)


@dataclass
class DoctorChunkPlan:
    # (license_number, *DOCTOR_FIELDS values)
    creates: list[tuple] = field(default_factory=list)
    # New doctors' memberships: license_number -> [(department id, role, primary)].
    create_memberships: dict[str, list[tuple]] = field(default_factory=dict)
    # (doctor id, license_number, *DOCTOR_FIELDS values, created_at)
    updates: list[tuple] = field(default_factory=list)
    # Periods (MEMBERSHIP_COLUMNS) as they will stand: ended yesterday (a
    # department dropped, or a role or primary flag that changes from today);
    # rewritten in place (a period that started today takes the new role or
    # flag); cancelled (a period that started today or later, of a department
    # dropped: deleted, as it stood).
    membership_ends: list[tuple] = field(default_factory=list)
    membership_updates: list[tuple] = field(default_factory=list)
    membership_cancels: list[tuple] = field(default_factory=list)
    # New periods from today: (doctor_id, department_id, role, joined_on,
    # left_on, is_primary)
    membership_additions: list[tuple] = field(default_factory=list)
    # Memberships, as staff count them: departments joined, roles or primary
    # flags changed, departments left (with the periods cancelled).
    memberships_added: int = 0
    memberships_changed: int = 0
    memberships_removed: int = 0
    unchanged: int = 0
    row_changes: list[RowChange] = field(default_factory=list)
    # One fingerprint of the stored state per row, in the rows' order.
    seen: list[bytes] = field(default_factory=list)

    @property
    def updated(self) -> int:
        return sum(1 for change in self.row_changes if change.action == "updated")


def _departments_text(entries, codes: dict[int, str], has_primary: bool) -> str:
    return format_departments(
        [(codes[dept_id], is_head) for dept_id, is_head in entries],
        has_primary=has_primary,
    )


def stored_periods(
    doctor_ids, *, today: datetime.date, overrides: dict[int, tuple] | None = None
) -> dict[int, list[tuple]]:
    """The periods of these doctors covering today or starting later
    (MEMBERSHIP_COLUMNS), by doctor. `overrides` holds periods as they were
    before the import changed them up front (writer.release_heads), which
    are read as they were."""
    overrides = overrides or {}
    found: dict[int, list[tuple]] = {}
    # From yesterday: a head released up front ends then, but counts as it was.
    for values in (
        Membership.objects.filter(periods.not_ended(today - periods.ONE_DAY))
        .filter(doctor_id__any_of=list(doctor_ids))
        .order_by()
        .values_list(*MEMBERSHIP_COLUMNS)
    ):
        values = overrides.get(values[ID], values)
        if values[LEFT] is not None and values[LEFT] < today:
            continue
        found.setdefault(values[DOCTOR], []).append(values)
    return found


def plan_doctor_chunk(
    rows: list[DoctorRow],
    *,
    today: datetime.date,
    codes: dict[int, str],
    overrides: dict[int, tuple] | None = None,
) -> DoctorChunkPlan:
    """Creates, updates and membership changes that make the database match `rows`.

    The `departments` cell lists the doctor's current memberships: a
    department dropped ends its period yesterday, a new one starts a period
    today, a head or primary marker that changes ends the period yesterday and
    starts the next today (as period_changes.change_on does one by one).
    Periods that start later are kept unless their department is dropped.
    `overrides`: see `stored_periods`.
    """
    plan = DoctorChunkPlan()
    yesterday = today - periods.ONE_DAY
    existing = {
        values[1]: values
        for values in Doctor.objects.filter(
            license_number__any_of=[row.license_number for row in rows]
        )
        .order_by()
        .values_list("pk", "license_number", *DOCTOR_FIELDS, "created_at")
    }
    memberships: dict[int, list[tuple]] = {}
    if existing:
        memberships = stored_periods(
            [values[0] for values in existing.values()],
            today=today,
            overrides=overrides,
        )

    for row in rows:
        current = existing.get(row.license_number)
        if current is None:
            plan.seen.append(ABSENT)
            plan.creates.append((row.license_number, *row.values))
            plan.memberships_added += len(row.departments)
            plan.create_memberships[row.license_number] = [
                (
                    dept_id,
                    HEAD if is_head else MEMBER,
                    row.has_primary and position == 0,
                )
                for position, (dept_id, is_head) in enumerate(row.departments)
            ]
            created = _created_values(DOCTOR_FIELDS, row.values)
            if row.departments:
                created["departments"] = [
                    None,
                    _departments_text(row.departments, codes, row.has_primary),
                ]
            plan.row_changes.append(
                RowChange(row.row, row.license_number, "new", created)
            )
            continue
        doctor_id = current[0]
        stored = memberships.get(doctor_id, [])
        plan.seen.append(fingerprint((current[2:-1], sorted(stored))))
        changes = {
            name: [_shown(old), _shown(new)]
            for name, old, new in zip(
                DOCTOR_FIELDS, current[2:-1], row.values, strict=True
            )
            if old != new
        }
        if changes:
            plan.updates.append(
                (doctor_id, row.license_number, *row.values, current[-1])
            )
        had: dict[int, tuple] = {}
        later: dict[int, list[tuple]] = {}
        for values in stored:
            if values[JOINED] > today:
                later.setdefault(values[DEPARTMENT], []).append(values)
            else:
                had[values[DEPARTMENT]] = values
        wanted = {
            dept_id: (HEAD if is_head else MEMBER, row.has_primary and position == 0)
            for position, (dept_id, is_head) in enumerate(row.departments)
        }
        membership_changed = False
        for dept_id, values in had.items():
            if dept_id not in wanted:
                # Dropped: the current period ends, later ones are cancelled.
                _end(plan, values, yesterday, today)
                plan.membership_cancels.extend(later.get(dept_id, []))
                plan.memberships_removed += 1
                membership_changed = True
            elif (values[ROLE], values[PRIMARY]) != wanted[dept_id]:
                role, is_primary = wanted[dept_id]
                if values[JOINED] >= today:
                    plan.membership_updates.append(
                        (values[ID], role, values[JOINED], values[LEFT], is_primary)
                        + values[DOCTOR:]
                    )
                else:
                    _end(plan, values, yesterday, today)
                    plan.membership_additions.append(
                        (doctor_id, dept_id, role, today, values[LEFT], is_primary)
                    )
                plan.memberships_changed += 1
                membership_changed = True
        for dept_id, (role, is_primary) in wanted.items():
            # A department where the doctor has only a later period is refused
            # by the checks (validation.py); nothing starts there.
            if dept_id not in had and dept_id not in later:
                plan.membership_additions.append(
                    (doctor_id, dept_id, role, today, None, is_primary)
                )
                plan.memberships_added += 1
                membership_changed = True
        if membership_changed:
            before = sorted(
                had.values(),
                key=lambda values: (not values[PRIMARY], codes[values[DEPARTMENT]]),
            )
            changes["departments"] = [
                _departments_text(
                    [(values[DEPARTMENT], values[ROLE] == HEAD) for values in before],
                    codes,
                    any(values[PRIMARY] for values in before),
                ),
                _departments_text(row.departments, codes, row.has_primary),
            ]
        if changes:
            plan.row_changes.append(
                RowChange(row.row, row.license_number, "updated", changes)
            )
        else:
            plan.unchanged += 1
    return plan


def _end(
    plan: DoctorChunkPlan,
    values: tuple,
    yesterday: datetime.date,
    today: datetime.date,
) -> None:
    """The current period ends yesterday; one that started today is cancelled."""
    if values[JOINED] >= today:
        plan.membership_cancels.append(values)
    else:
        plan.membership_ends.append((*values[:LEFT], yesterday, *values[LEFT + 1 :]))


@dataclass
class DepartmentChunkPlan:
    # (code, *DEPARTMENT_FIELDS values)
    creates: list[tuple] = field(default_factory=list)
    # (department id, code, *DEPARTMENT_FIELDS values, created_at)
    updates: list[tuple] = field(default_factory=list)
    unchanged: int = 0
    row_changes: list[RowChange] = field(default_factory=list)
    seen: list[bytes] = field(default_factory=list)

    @property
    def updated(self) -> int:
        return len(self.updates)


def plan_department_chunk(rows: list[DepartmentRow]) -> DepartmentChunkPlan:
    plan = DepartmentChunkPlan()
    existing = {
        values[1]: values
        for values in Department.objects.filter(
            code__any_of=[row.code for row in rows]
        ).values_list("pk", "code", *DEPARTMENT_FIELDS, "created_at")
    }
    for row in rows:
        current = existing.get(row.code)
        if current is None:
            plan.seen.append(ABSENT)
            plan.creates.append((row.code, *row.values))
            plan.row_changes.append(
                RowChange(
                    row.row,
                    row.code,
                    "new",
                    _created_values(DEPARTMENT_FIELDS, row.values),
                )
            )
            continue
        plan.seen.append(fingerprint(current[2:-1]))
        changes = {
            name: [_shown(old), _shown(new)]
            for name, old, new in zip(
                DEPARTMENT_FIELDS, current[2:-1], row.values, strict=True
            )
            if old != new
        }
        if changes:
            plan.updates.append((current[0], row.code, *row.values, current[-1]))
            plan.row_changes.append(RowChange(row.row, row.code, "updated", changes))
        else:
            plan.unchanged += 1
    return plan


def _created_values(names, values) -> dict[str, list[Any]]:
    """What a new row will hold, field by field, for the preview (nothing before
    it: the old value is None); blank fields are left out."""
    return {
        name: [None, _shown(value)]
        for name, value in zip(names, values, strict=True)
        if value not in ("", None)
    }


def _shown(value: Any) -> Any:
    return format_bool(value) if isinstance(value, bool) else value
