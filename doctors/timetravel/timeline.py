"""A doctor's periods and their records, read from the membership history.

Each membership row is one period (a department, a role, a first and a last
day). Its history rows say when the period was recorded and how it was
handled since, each with who did it and in which change-set:

- the first row: the period was recorded;
- a row that gives an open period a last day: its end was recorded;
- any other change of its days, role, primary flag or department: a
  correction (the period's facts were wrong, not a new fact);
- a deletion: the period was removed from the records (cancelled, as it never
  happened, or deleted with its department or doctor).
"""

import datetime
from dataclasses import dataclass, field

from .. import periods
from ..activity import value_label
from ..models import ChangeSet, Department, Membership
from .moments import HistoricalDepartment, HistoricalMembership, moment_after

RECORDED = "recorded"
ENDED = "ended"
CORRECTED = "corrected"
CANCELLED = "cancelled"
KIND_LABELS = {
    RECORDED: "Recorded",
    ENDED: "End recorded",
    CORRECTED: "Corrected",
    # A period cancelled (it never happened), or deleted with its doctor or
    # department: the history cannot tell which.
    CANCELLED: "Removed from the records",
}
# A doctor's memberships change a few times a year; this bounds the page.
TIMELINE_ROWS = 2000


@dataclass
class PeriodRecord:
    """One history row of a period: what was written, when, by whom."""

    kind: str
    when: datetime.datetime
    details: str
    user: str
    history_id: int
    reason: str = ""
    change_set: ChangeSet | None = None
    # Just after the change (the end of its change-set): where "revert to
    # here" goes.
    moment: datetime.datetime | None = None

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]


@dataclass
class PeriodHistory:
    """A period as it stands now (or stood when cancelled) and its records,
    oldest first."""

    membership_id: int
    department_id: int
    role: str
    is_primary: bool
    joined_on: datetime.date
    left_on: datetime.date | None
    cancelled: bool = False
    department_name: str = ""
    records: list[PeriodRecord] = field(default_factory=list)

    @property
    def role_label(self) -> str:
        return Membership.Role(self.role).label

    @property
    def dates(self) -> str:
        return periods.describe(self.joined_on, self.left_on)

    @property
    def status(self) -> str:
        if self.cancelled:
            return "removed from the records"
        today = periods.today()
        if self.joined_on > today:
            return "starts later"
        if self.left_on is not None and self.left_on < today:
            return "ended"
        return "current"

    @property
    def recorded(self) -> PeriodRecord:
        return self.records[0]

    @property
    def corrections(self) -> list[PeriodRecord]:
        return [r for r in self.records if r.kind == CORRECTED]


def _as_recorded(row) -> str:
    role = value_label(Membership, "role", row.role)
    text = f"{role} {periods.describe(row.joined_on, row.left_on)}"
    return text + (", primary department" if row.is_primary else "")


# Each field compared, in its words; values read as the feed reads them
# (activity.value_label).
_COMPARED = (
    ("joined_on", "first day"),
    ("left_on", "last day"),
    ("role", "role"),
    ("is_primary", "primary department"),
)


def _record(before, row, names: dict[int, str]) -> tuple[str, str]:
    """(kind, details) of history row `row`, given the period's row before."""
    if row.history_type == "-":
        return CANCELLED, f"was {_as_recorded(before or row)}"
    if before is None or before.history_type == "-":
        return RECORDED, _as_recorded(row)
    if (
        before.left_on is None
        and row.left_on is not None
        and before.department_id == row.department_id
        and all(
            getattr(before, name) == getattr(row, name)
            for name in ("joined_on", "role", "is_primary")
        )
    ):
        return ENDED, f"last day {value_label(Membership, 'left_on', row.left_on)}"
    changes = [
        f"{words} {value_label(Membership, name, getattr(before, name))} → "
        f"{value_label(Membership, name, getattr(row, name))}"
        for name, words in _COMPARED
        if getattr(before, name) != getattr(row, name)
    ]
    if before.department_id != row.department_id:
        changes.append(
            f"department {names.get(before.department_id, '?')} → "
            f"{names.get(row.department_id, '?')}"
        )
    return CORRECTED, "; ".join(changes) or "saved again, nothing changed"


def doctor_periods(doctor_id: int) -> list[PeriodHistory]:
    """`doctor_id`'s periods, the latest first day first, each with its
    records oldest first."""
    rows = list(
        HistoricalMembership.objects.filter(doctor_id=doctor_id)
        .select_related("history_user", "change_set")
        .order_by("history_date", "history_id")[:TIMELINE_ROWS]
    )
    names = department_names({row.department_id for row in rows})
    found: dict[int, PeriodHistory] = {}
    previous: dict[int, object] = {}
    for row in rows:
        kind, details = _record(previous.get(row.id), row, names)
        previous[row.id] = row
        period = found.get(row.id)
        if period is None:
            period = found[row.id] = PeriodHistory(
                membership_id=row.id,
                department_id=row.department_id,
                role=row.role,
                is_primary=row.is_primary,
                joined_on=row.joined_on,
                left_on=row.left_on,
            )
        if kind != CANCELLED:
            period.department_id = row.department_id
            period.role, period.is_primary = row.role, row.is_primary
            period.joined_on, period.left_on = row.joined_on, row.left_on
        period.cancelled = kind == CANCELLED
        period.records.append(
            PeriodRecord(
                kind=kind,
                when=row.history_date,
                details=details,
                user=row.history_user.get_username() if row.history_user else "",
                history_id=row.history_id,
                # The reason typed for the change-set; the row's own change
                # reason may hold the change-set's description (a file name).
                reason=(
                    row.change_set.reason
                    if row.change_set
                    else row.history_change_reason
                )
                or "",
                change_set=row.change_set,
                moment=moment_after(row),
            )
        )
    for period in found.values():
        period.department_name = names.get(
            period.department_id, f"#{period.department_id}"
        )
    return sorted(
        found.values(),
        key=lambda p: (p.joined_on, p.recorded.when, p.membership_id),
        reverse=True,
    )


def department_names(ids: set[int]) -> dict[int, str]:
    """Today's names, and the last recorded one of a department deleted since."""
    names = dict(Department.objects.filter(pk__in=ids).values_list("pk", "name"))
    missing = ids - set(names)
    if missing:
        for pk, name in (
            HistoricalDepartment.objects.filter(id__in=missing)
            .order_by("history_date", "history_id")
            .values_list("id", "name")
        ):
            names[pk] = name
    return names
