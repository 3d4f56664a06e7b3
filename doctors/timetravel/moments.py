"""What the history tables had recorded up to a moment.

The state of an object at a moment is its newest history row recorded up to
then (ties broken by history_id), unless that row records a deletion. "As the
system knew it at the end of a day" is the state at the last instant of that
day in the clinic's time zone (settings.TIME_ZONE).

Each question is answered by one query whatever the number of members: a
department's rows are found through the (department, history_date) index, and
a row counts when it is the newest of its object up to the moment (one seek on
the (id, history_date, history_id) index per row).
"""

import dataclasses
import datetime
from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from .. import periods
from ..models import Department, Doctor, Membership

HistoricalDoctor = Doctor.history.model
HistoricalDepartment = Department.history.model
HistoricalMembership = Membership.history.model


def end_of_day(day: datetime.date) -> datetime.datetime:
    """The last instant of `day` in the clinic's time zone."""
    start_of_next = datetime.datetime.combine(
        day + datetime.timedelta(days=1), datetime.time.min
    )
    return timezone.make_aware(start_of_next) - datetime.timedelta(microseconds=1)


def moment_after(row) -> datetime.datetime:
    """The moment just after the change a history row belongs to: the end of
    its change-set (a save and its inline rows, an import, a revert), or the
    row's own time when it has none or the change-set is still open."""
    change_set = row.change_set
    if change_set is not None and change_set.ended_at is not None:
        return max(change_set.ended_at, row.history_date)
    return row.history_date


def newest_up_to(queryset: QuerySet, moment: datetime.datetime) -> QuerySet:
    """The rows of `queryset` (a historical model's) that are the newest of
    their object among the rows recorded up to `moment`."""
    return queryset.filter(
        history_date__lte=moment,
        history_id=Subquery(_newest_row(queryset.model, OuterRef("id"), moment)),
    ).order_by()


def _newest_row(model, object_id, moment: datetime.datetime) -> QuerySet:
    # A correlated LIMIT 1: one seek on the (id, history_date, history_id)
    # index per candidate row. (A NOT EXISTS form lets PostgreSQL hash the
    # whole table instead, which measured 3x slower at 1M rows.)
    return (
        model.objects.filter(id=object_id, history_date__lte=moment)
        .order_by("-history_date", "-history_id")
        .values("history_id")[:1]
    )


@dataclass(frozen=True)
class MembershipThen:
    """One membership as it stood at a moment."""

    membership_id: int
    doctor_id: int
    department_id: int
    role: str
    is_primary: bool
    joined_on: datetime.date
    left_on: datetime.date | None = None

    @property
    def role_label(self) -> str:
        return Membership.Role(self.role).label


@dataclass(frozen=True)
class MemberOnDate:
    """One line of "who was in the department": the doctor as known then."""

    doctor_id: int
    license_number: str
    first_name: str
    last_name: str
    role: str
    is_primary: bool
    joined_on: datetime.date
    left_on: datetime.date | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def role_label(self) -> str:
        return Membership.Role(self.role).label


MEMBERSHIP_VALUES = (
    "id",
    "doctor_id",
    "department_id",
    "role",
    "is_primary",
    "joined_on",
    "left_on",
)


def memberships_at(
    moment: datetime.datetime,
    *,
    doctor_id: int | None = None,
    department_id: int | None = None,
) -> list[MembershipThen]:
    """The memberships of a doctor or of a department as they stood at `moment`."""
    if (doctor_id is None) == (department_id is None):
        raise ValueError("Give exactly one of doctor_id and department_id.")
    side = {"doctor_id": doctor_id} if doctor_id else {"department_id": department_id}
    rows = (
        newest_up_to(HistoricalMembership.objects.filter(**side), moment)
        .exclude(history_type="-")
        .values_list(*MEMBERSHIP_VALUES)
    )
    return [MembershipThen(*values) for values in rows]


DOCTOR_VALUES = ("license_number", "first_name", "last_name")


def department_members_on(
    department: Department,
    day: datetime.date,
    *,
    as_recorded_on: datetime.datetime | None = None,
) -> list[MemberOnDate]:
    """Who was in `department` on `day` in the clinic's calendar (valid time):
    the periods covering that day. With `as_recorded_on`, what the records
    said at that instant about that day (system time): the membership and
    doctor rows as the history tables held them then.
    """
    if as_recorded_on is None:
        rows = (
            Membership.objects.filter(department_id=department.pk)
            .covering(day)
            .values_list(
                "doctor_id",
                "role",
                "is_primary",
                "joined_on",
                "left_on",
                *(f"doctor__{name}" for name in DOCTOR_VALUES),
            )
        )
    else:
        doctor_then = HistoricalDoctor.objects.filter(
            id=OuterRef("doctor_id"), history_date__lte=as_recorded_on
        ).order_by("-history_date", "-history_id")
        rows = (
            newest_up_to(
                HistoricalMembership.objects.filter(department_id=department.pk),
                as_recorded_on,
            )
            .exclude(history_type="-")
            .filter(periods.covering(day))
            .annotate(
                **{
                    f"doctor_{name}": Subquery(doctor_then.values(name)[:1])
                    for name in DOCTOR_VALUES
                }
            )
            .values_list(
                "doctor_id",
                "role",
                "is_primary",
                "joined_on",
                "left_on",
                *(f"doctor_{name}" for name in DOCTOR_VALUES),
            )
        )
    members = [
        MemberOnDate(
            doctor_id=doctor_id,
            license_number=license_number,
            first_name=first_name,
            last_name=last_name,
            role=role,
            is_primary=is_primary,
            joined_on=joined_on,
            left_on=left_on,
        )
        for (
            doctor_id,
            role,
            is_primary,
            joined_on,
            left_on,
            license_number,
            first_name,
            last_name,
        ) in rows
    ]
    missing = {m.doctor_id for m in members if m.license_number is None}
    if missing:
        # Doctors written without a history row (raw SQL, fixtures): today's values.
        today = {
            values[0]: values[1:]
            for values in Doctor.objects.filter(pk__in=missing).values_list(
                "pk", *DOCTOR_VALUES
            )
        }
        unknown = ("?", "", "")
        members = [
            m
            if m.license_number is not None
            else dataclasses.replace(
                m,
                **dict(
                    zip(DOCTOR_VALUES, today.get(m.doctor_id, unknown), strict=True)
                ),
            )
            for m in members
        ]
    members.sort(
        key=lambda m: (
            m.role != Membership.Role.HEAD,
            m.last_name,
            m.first_name,
            m.license_number,
        )
    )
    return members


def object_at(model, pk: int, moment: datetime.datetime):
    """The history row holding `model` object `pk` at `moment`, or None when it
    did not exist then."""
    row = (
        newest_up_to(model.history.model.objects.filter(id=pk), moment)
        .order_by()
        .first()
    )
    if row is None or row.history_type == "-":
        return None
    return row
