"""Writing planned chunks in bulk, with the history rows of every change.

No model instance is built and no signal is sent: rows go to the database as
prepared executemany statements (doctors.bulk), and the history rows
simple-history would have written are written the same way. The caller runs
everything in one transaction and writes the single feed event.
"""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from ..bulk import (
    delete_rows,
    insert_history_rows,
    insert_rows,
    release_membership_flags,
    set_membership_flags,
    update_rows,
)
from ..ledger import written
from ..models import Department, Doctor, Membership, PersonalDataKey
from ..resources import DEPARTMENT_FIELDS, DOCTOR_FIELDS
from .diff import DepartmentChunkPlan, DoctorChunkPlan

DOCTOR_HISTORY = ("id", "license_number", *DOCTOR_FIELDS, "created_at")
MEMBERSHIP_HISTORY = (
    "id",
    "role",
    "joined_on",
    "is_primary",
    "doctor_id",
    "department_id",
)
DEPARTMENT_HISTORY = ("id", "code", *DEPARTMENT_FIELDS, "created_at", "updated_at")


@dataclass
class WriteCounts:
    created: int = 0
    updated: int = 0
    memberships_added: int = 0
    memberships_changed: int = 0
    memberships_removed: int = 0


class DoctorWriter:
    def __init__(
        self,
        *,
        now: datetime.datetime,
        user_id: int | None,
        reason: str,
    ):
        self.now = now
        self.history = {"when": now, "user_id": user_id, "reason": reason[:100]}
        self.counts = WriteCounts()
        self.created_ids: list[int] = []

    def release_heads(self, membership_ids: list[int]) -> dict[int, str]:
        """Make the heads the file hands over plain members before any chunk.

        A later chunk may give the department its new head before the chunk of
        the old head is written; the database allows one head at a time. The
        returned roles let the chunk plans compare against the state before.
        """
        update_rows(
            Membership,
            ["role"],
            [(Membership.Role.MEMBER, pk) for pk in membership_ids],
        )
        # The plain stored value: the plans fingerprint what the database holds.
        return dict.fromkeys(membership_ids, Membership.Role.HEAD.value)

    def write(self, plan: DoctorChunkPlan) -> None:
        counts = self.counts
        if plan.membership_removals:
            delete_rows(Membership, [values[0] for values in plan.membership_removals])
            self._history(Membership, plan.membership_removals, "-")
            counts.memberships_removed += len(plan.membership_removals)

        if plan.updates:
            update_rows(
                Doctor,
                [*DOCTOR_FIELDS, "updated_at"],
                [(*values[2:-1], self.now, values[0]) for values in plan.updates],
            )
            self._history(Doctor, plan.updates, "~")
            counts.updated += len(plan.updates)

        ids_by_license: dict[str, int] = {}
        if plan.creates:
            insert_rows(
                Doctor,
                ["license_number", *DOCTOR_FIELDS, "created_at", "updated_at"],
                [(*values, self.now, self.now) for values in plan.creates],
            )
            ids_by_license = dict(
                Doctor.objects.filter(
                    license_number__any_of=[values[0] for values in plan.creates]
                )
                .order_by()
                .values_list("license_number", "pk")
            )
            # The new doctors' keys for the history chain, made now: their
            # history rows are written down for it as they are written.
            written.make_keys(
                PersonalDataKey.Kind.DOCTOR, list(ids_by_license.values())
            )
            self._history(
                Doctor,
                [
                    (ids_by_license[values[0]], *values, self.now)
                    for values in plan.creates
                ],
                "+",
            )
            self.created_ids.extend(
                ids_by_license[values[0]] for values in plan.creates
            )
            counts.created += len(plan.creates)

        if plan.membership_updates:
            updates = plan.membership_updates
            release_membership_flags(Membership, [values[0] for values in updates])
            set_membership_flags(
                Membership, [(values[0], values[1], values[3]) for values in updates]
            )
            self._history(Membership, updates, "~")
            counts.memberships_changed += len(updates)

        additions = list(plan.membership_additions)
        today = timezone.localdate(self.now)
        for license_number, entries in plan.create_memberships.items():
            doctor_id = ids_by_license[license_number]
            additions.extend(
                (doctor_id, dept_id, role, today, is_primary)
                for dept_id, role, is_primary in entries
            )
        if additions:
            insert_rows(
                Membership,
                ["doctor_id", "department_id", "role", "joined_on", "is_primary"],
                additions,
            )
            added = {(values[0], values[1]) for values in additions}
            rows = [
                values
                for values in Membership.objects.filter(
                    doctor_id__any_of={values[0] for values in additions}
                ).values_list(*MEMBERSHIP_HISTORY)
                if (values[4], values[5]) in added
            ]
            self._history(Membership, rows, "+")
            counts.memberships_added += len(additions)

    def _history(self, model, rows, history_type: str) -> None:
        columns = DOCTOR_HISTORY if model is Doctor else MEMBERSHIP_HISTORY
        insert_history_rows(
            model, columns, rows, history_type=history_type, **self.history
        )


class DepartmentWriter:
    def __init__(self, *, now: datetime.datetime, user_id: int | None, reason: str):
        self.now = now
        self.history = {"when": now, "user_id": user_id, "reason": reason[:100]}
        self.counts = WriteCounts()

    def write(self, plan: DepartmentChunkPlan) -> None:
        if plan.updates:
            update_rows(
                Department,
                [*DEPARTMENT_FIELDS, "updated_at"],
                [(*values[2:-1], self.now, values[0]) for values in plan.updates],
            )
            insert_history_rows(
                Department,
                DEPARTMENT_HISTORY,
                [(*values, self.now) for values in plan.updates],
                history_type="~",
                **self.history,
            )
            self.counts.updated += len(plan.updates)
        if plan.creates:
            insert_rows(
                Department,
                ["code", *DEPARTMENT_FIELDS, "created_at", "updated_at"],
                [(*values, self.now, self.now) for values in plan.creates],
            )
            ids = dict(
                Department.objects.filter(
                    code__any_of=[values[0] for values in plan.creates]
                ).values_list("code", "pk")
            )
            insert_history_rows(
                Department,
                DEPARTMENT_HISTORY,
                [
                    (ids[values[0]], *values, self.now, self.now)
                    for values in plan.creates
                ],
                history_type="+",
                **self.history,
            )
            self.counts.created += len(plan.creates)
