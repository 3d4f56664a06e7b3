"""Writing planned periods in bulk, with the history rows of every change.

The rules hold after every statement (they are not deferred), so the writes
go in two steps. First every period the file corrects is narrowed to its
first day alone, as a plain member, not primary: narrowing never breaks a
rule. Then the new periods are inserted and the corrected ones widened to
what the file says. After the first step every stored period is part of its
final state, and each later write only adds to that state, which the
checker found within the rules: no order of the rows passes through a state
the database refuses. As in the doctors import, no model instance is built and
no signal is sent; the runner writes the one feed event.
"""

import datetime

from ...bulk import insert_history_rows, insert_rows, update_rows
from ...models import Membership
from ..diff import MEMBERSHIP_COLUMNS, NEW_MEMBERSHIP_COLUMNS
from .planning import PeriodPlan

MEMBER = Membership.Role.MEMBER.value


class PeriodWriter:
    def __init__(self, *, now: datetime.datetime, user_id: int | None, reason: str):
        self.history = {"when": now, "user_id": user_id, "reason": reason[:100]}
        self.created = 0
        self.updated = 0

    def narrow(self, plan: PeriodPlan) -> None:
        """Step one: the periods `plan` corrects, down to their first day."""
        update_rows(
            Membership,
            ["role", "is_primary", "left_on"],
            [(MEMBER, False, values[2], values[0]) for values in plan.updates],
        )

    def write(self, plan: PeriodPlan) -> None:
        """Step two: `plan`'s new periods, and its corrected ones in full."""
        if plan.updates:
            update_rows(
                Membership,
                ["role", "left_on", "is_primary"],
                [
                    (values[1], values[3], values[4], values[0])
                    for values in plan.updates
                ],
            )
            self._history(plan.updates, "~")
            self.updated += len(plan.updates)
        if plan.creates:
            insert_rows(Membership, NEW_MEMBERSHIP_COLUMNS, plan.creates)
            keys = {(values[0], values[1], values[3]) for values in plan.creates}
            created = [
                values
                for values in Membership.objects.filter(
                    doctor_id__any_of=list({values[0] for values in plan.creates})
                )
                .order_by()
                .values_list(*MEMBERSHIP_COLUMNS)
                if (values[5], values[6], values[2]) in keys
            ]
            self._history(created, "+")
            self.created += len(plan.creates)

    def _history(self, rows: list[tuple], history_type: str) -> None:
        insert_history_rows(
            Membership,
            MEMBERSHIP_COLUMNS,
            rows,
            history_type=history_type,
            **self.history,
        )
