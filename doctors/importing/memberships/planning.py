"""What a chunk of clean periods would change, found by comparing with the
database: one query per chunk reads the stored periods of its doctors.

A row names a period by (doctor, department, first day): a stored period with
that key is corrected to the row (its role, primary flag and last day), or
left alone when it already says the same; without one, a period is created.
"""

import datetime
from dataclasses import dataclass, field

from ...models import Membership
from ..diff import ABSENT, MEMBERSHIP_COLUMNS, RowChange, fingerprint
from ..values import format_bool
from .checking import PeriodRow
from .values import format_date


@dataclass
class PeriodPlan:
    # (doctor_id, department_id, role, joined_on, left_on, is_primary)
    creates: list[tuple] = field(default_factory=list)
    # The corrected periods after the import, in diff.MEMBERSHIP_COLUMNS order.
    updates: list[tuple] = field(default_factory=list)
    unchanged: int = 0
    row_changes: list[RowChange] = field(default_factory=list)
    # One fingerprint of the stored period per row, in the rows' order.
    seen: list[bytes] = field(default_factory=list)

    @property
    def updated(self) -> int:
        return len(self.updates)


def period_key(license_number: str, code: str, joined_on: datetime.date) -> str:
    """How the preview names a row's period: "D-1001 in CARD from 2024-03-01"."""
    return f"{license_number} in {code} from {joined_on.isoformat()}"


def plan_period_chunk(rows: list[PeriodRow], *, codes: dict[int, str]) -> PeriodPlan:
    plan = PeriodPlan()
    stored = {
        (values[5], values[6], values[2]): values
        for values in Membership.objects.filter(
            doctor_id__any_of=list({row.doctor_id for row in rows})
        )
        .order_by()
        .values_list(*MEMBERSHIP_COLUMNS)
    }
    for row in rows:
        key = period_key(row.license_number, codes[row.department_id], row.joined_on)
        wanted = (row.role, row.left_on, row.is_primary)
        current = stored.get((row.doctor_id, row.department_id, row.joined_on))
        if current is None:
            plan.seen.append(ABSENT)
            plan.creates.append(
                (
                    row.doctor_id,
                    row.department_id,
                    row.role,
                    row.joined_on,
                    row.left_on,
                    row.is_primary,
                )
            )
            created = {
                "role": [None, row.role],
                "is_primary": [None, format_bool(row.is_primary)],
                "joined_on": [None, format_date(row.joined_on)],
            }
            if row.left_on is not None:
                created["left_on"] = [None, format_date(row.left_on)]
            plan.row_changes.append(RowChange(row.row, key, "new", created))
            continue
        pk, role, joined_on, left_on, is_primary, doctor_id, department_id = current
        plan.seen.append(fingerprint((pk, role, left_on, is_primary)))
        if (role, left_on, is_primary) == wanted:
            plan.unchanged += 1
            continue
        changes = {}
        if role != row.role:
            changes["role"] = [role, row.role]
        if is_primary != row.is_primary:
            changes["is_primary"] = [
                format_bool(is_primary),
                format_bool(row.is_primary),
            ]
        if left_on != row.left_on:
            changes["left_on"] = [format_date(left_on), format_date(row.left_on)]
        plan.updates.append(
            (
                pk,
                row.role,
                joined_on,
                row.left_on,
                row.is_primary,
                doctor_id,
                department_id,
            )
        )
        plan.row_changes.append(RowChange(row.row, key, "updated", changes))
    return plan
