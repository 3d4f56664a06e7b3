"""A doctor's membership timeline, read from the membership history.

Each history row of a membership is compared with the row before it: a first
row is a join, a deletion is a leave, a row that points at another department
(or another doctor) is a leave and a join, and role or primary changes are
entries of their own. Who made the change and when come from the row.
"""

import datetime
from dataclasses import dataclass

from django.db.models import Subquery

from ..models import ChangeSet, Department, Membership
from .moments import HistoricalDepartment, HistoricalMembership, moment_after

JOINED = "joined"
LEFT = "left"
ROLE = "role"
PRIMARY = "primary"
KIND_LABELS = {
    JOINED: "Joined",
    LEFT: "Left",
    ROLE: "Role changed",
    PRIMARY: "Primary department changed",
}
# A doctor's memberships change a few times a year; this bounds the page.
TIMELINE_ROWS = 2000


@dataclass
class TimelineEntry:
    kind: str
    when: datetime.datetime
    department_id: int
    department_name: str
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


def _role(value: str) -> str:
    return Membership.Role(value).label.lower()


def _state(row) -> tuple | None:
    if row.history_type == "-":
        return None
    return (row.doctor_id, row.department_id, row.role, row.is_primary)


def doctor_timeline(doctor_id: int) -> list[TimelineEntry]:
    """What happened to `doctor_id`'s memberships, newest first."""
    touched = HistoricalMembership.objects.filter(doctor_id=doctor_id).values("id")
    rows = (
        HistoricalMembership.objects.filter(id__in=Subquery(touched))
        .select_related("history_user", "change_set")
        .order_by("history_date", "history_id")[:TIMELINE_ROWS]
    )
    entries: list[TimelineEntry] = []
    previous: dict[int, tuple | None] = {}
    for row in rows:
        before = previous.get(row.id)
        after = _state(row)
        previous[row.id] = after
        before_here = before if before and before[0] == doctor_id else None
        after_here = after if after and after[0] == doctor_id else None
        common = {
            "when": row.history_date,
            "user": row.history_user.get_username() if row.history_user else "",
            "history_id": row.history_id,
            # The reason typed for the change-set; the row's own change reason
            # may hold the change-set's description (an import's file name).
            "reason": (
                row.change_set.reason if row.change_set else row.history_change_reason
            )
            or "",
            "change_set": row.change_set,
            "moment": moment_after(row),
        }
        if before_here and (not after_here or after_here[1] != before_here[1]):
            entries.append(
                TimelineEntry(
                    kind=LEFT,
                    department_id=before_here[1],
                    department_name="",
                    details=f"was {_role(before_here[2])}"
                    + (", primary" if before_here[3] else ""),
                    **common,
                )
            )
            before_here = None
        if after_here and not before_here:
            entries.append(
                TimelineEntry(
                    kind=JOINED,
                    department_id=after_here[1],
                    department_name="",
                    details=f"as {_role(after_here[2])}"
                    + (", primary" if after_here[3] else ""),
                    **common,
                )
            )
        elif after_here and before_here:
            if after_here[2] != before_here[2]:
                entries.append(
                    TimelineEntry(
                        kind=ROLE,
                        department_id=after_here[1],
                        department_name="",
                        details=f"{_role(before_here[2])} → {_role(after_here[2])}",
                        **common,
                    )
                )
            if after_here[3] != before_here[3]:
                entries.append(
                    TimelineEntry(
                        kind=PRIMARY,
                        department_id=after_here[1],
                        department_name="",
                        details="made primary"
                        if after_here[3]
                        else "no longer primary",
                        **common,
                    )
                )
    names = department_names({entry.department_id for entry in entries})
    for entry in entries:
        entry.department_name = names.get(
            entry.department_id, f"#{entry.department_id}"
        )
    entries.reverse()
    return entries


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
