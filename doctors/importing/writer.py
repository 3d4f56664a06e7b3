"""Writing planned chunks in bulk, with the history rows of every change.

No model instance is built and no signal is sent: rows go to the database as
prepared executemany statements (doctors.bulk), and the history rows
simple-history would have written are written the same way. The caller runs
everything in one transaction and writes the single feed event.
"""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from .. import periods
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
from .diff import (
    MEMBERSHIP_COLUMNS,
    NEW_MEMBERSHIP_COLUMNS,
    DepartmentChunkPlan,
    DoctorChunkPlan,
)

DOCTOR_HISTORY = ("id", "license_number", *DOCTOR_FIELDS, "created_at")
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

    def release_heads(self, membership_ids: list[int]) -> dict[int, tuple]:
        """End the current periods of the heads the file hands over before
        any chunk is written.

        A later chunk may give the department its new head before the chunk of
        the old head is written; the database allows one head on any day. A
        period that started before today ends yesterday (where the plan of
        its row ends it too); one that started today becomes a plain member's
        (its row's plan rewrites or cancels it). The returned periods, as they
        were, let the chunk plans compare against the state before.
        """
        if not membership_ids:
            return {}
        today = timezone.localdate(self.now)
        before = {
            values[0]: values
            for values in Membership.objects.filter(pk__in=membership_ids)
            .order_by()
            .values_list(*MEMBERSHIP_COLUMNS)
        }
        started_before = [pk for pk, values in before.items() if values[2] < today]
        update_rows(
            Membership,
            ["left_on"],
            [(today - periods.ONE_DAY, pk) for pk in started_before],
        )
        update_rows(
            Membership,
            ["role"],
            [
                (Membership.Role.MEMBER, pk)
                for pk in before
                if pk not in set(started_before)
            ],
        )
        return before

    def write(self, plan: DoctorChunkPlan) -> None:
        counts = self.counts
        counts.memberships_added += plan.memberships_added
        counts.memberships_changed += plan.memberships_changed
        counts.memberships_removed += plan.memberships_removed
        if plan.membership_cancels:
            cancels = plan.membership_cancels
            delete_rows(Membership, [values[0] for values in cancels])
            self._history(Membership, cancels, "-")
        if plan.membership_ends:
            ends = plan.membership_ends
            update_rows(Membership, ["left_on"], [(v[3], v[0]) for v in ends])
            self._history(Membership, ends, "~")

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
                Membership, [(values[0], values[1], values[4]) for values in updates]
            )
            self._history(Membership, updates, "~")

        additions = list(plan.membership_additions)
        today = timezone.localdate(self.now)
        for license_number, entries in plan.create_memberships.items():
            doctor_id = ids_by_license[license_number]
            additions.extend(
                (doctor_id, dept_id, role, today, None, is_primary)
                for dept_id, role, is_primary in entries
            )
        if additions:
            insert_rows(Membership, NEW_MEMBERSHIP_COLUMNS, additions)
            # Every new period starts today, the only one of its doctor and
            # department that does.
            added = {(values[0], values[1]) for values in additions}
            rows = [
                values
                for values in Membership.objects.filter(
                    doctor_id__any_of={values[0] for values in additions},
                    joined_on=today,
                )
                .order_by()
                .values_list(*MEMBERSHIP_COLUMNS)
                if (values[5], values[6]) in added
            ]
            self._history(Membership, rows, "+")

    def _history(self, model, rows, history_type: str) -> None:
        columns = DOCTOR_HISTORY if model is Doctor else MEMBERSHIP_COLUMNS
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
