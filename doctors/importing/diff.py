"""What a chunk of clean rows would change, found by comparing with the database.

One query per chunk reads the doctors (by license number) and one their
memberships; the plan holds plain tuples, ready for the bulk writer.
"""

import datetime
import hashlib
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class DoctorChunkPlan:
    # (license_number, *DOCTOR_FIELDS values)
    creates: list[tuple] = field(default_factory=list)
    # New doctors' memberships: license_number -> [(department id, role, primary)].
    create_memberships: dict[str, list[tuple]] = field(default_factory=dict)
    # (doctor id, license_number, *DOCTOR_FIELDS values, created_at)
    updates: list[tuple] = field(default_factory=list)
    # Membership rows as (id, role, joined_on, is_primary, doctor_id, dept_id),
    # the order of the membership history columns: before removal / after change.
    membership_removals: list[tuple] = field(default_factory=list)
    membership_updates: list[tuple] = field(default_factory=list)
    # (doctor_id, department_id, role, joined_on, is_primary)
    membership_additions: list[tuple] = field(default_factory=list)
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


def plan_doctor_chunk(
    rows: list[DoctorRow],
    *,
    today: datetime.date,
    codes: dict[int, str],
    role_overrides: dict[int, str] | None = None,
) -> DoctorChunkPlan:
    """Creates, updates and membership changes that make the database match `rows`.

    `role_overrides` gives the role a membership had before the import demoted
    it up front (see writer.release_heads), so it is compared as it was.
    """
    role_overrides = role_overrides or {}
    plan = DoctorChunkPlan()
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
        for values in Membership.objects.filter(
            doctor_id__any_of=[values[0] for values in existing.values()]
        ).values_list(
            "pk", "role", "joined_on", "is_primary", "doctor_id", "department"
        ):
            if values[0] in role_overrides:
                values = (values[0], role_overrides[values[0]], *values[2:])
            memberships.setdefault(values[4], []).append(values)

    for row in rows:
        current = existing.get(row.license_number)
        if current is None:
            plan.seen.append(ABSENT)
            plan.creates.append((row.license_number, *row.values))
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
        plan.seen.append(
            fingerprint((current[2:-1], sorted(memberships.get(doctor_id, []))))
        )
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
        had = {values[5]: values for values in memberships.get(doctor_id, [])}
        wanted = {
            dept_id: (HEAD if is_head else MEMBER, row.has_primary and position == 0)
            for position, (dept_id, is_head) in enumerate(row.departments)
        }
        membership_changed = False
        for dept_id, values in had.items():
            if dept_id not in wanted:
                plan.membership_removals.append(values)
                membership_changed = True
            elif (values[1], values[3]) != wanted[dept_id]:
                role, is_primary = wanted[dept_id]
                plan.membership_updates.append(
                    (values[0], role, values[2], is_primary, doctor_id, dept_id)
                )
                membership_changed = True
        for dept_id, (role, is_primary) in wanted.items():
            if dept_id not in had:
                plan.membership_additions.append(
                    (doctor_id, dept_id, role, today, is_primary)
                )
                membership_changed = True
        if membership_changed:
            before = sorted(
                had.values(), key=lambda values: (not values[3], codes[values[5]])
            )
            changes["departments"] = [
                _departments_text(
                    [(values[5], values[1] == HEAD) for values in before],
                    codes,
                    any(values[3] for values in before),
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
