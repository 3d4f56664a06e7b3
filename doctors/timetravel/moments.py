"""What the history tables had recorded up to a moment.

The state of an object at a moment is its newest history row recorded up to
then (ties broken by history_id), unless that row records a deletion. "As the
system knew it at the end of a day" is the state at the last instant of that
day in the clinic's time zone (settings.TIME_ZONE).

Each question is answered by one query whatever the number of members: the
newest row is the one with no newer row of the same object up to the moment (a
NOT EXISTS probe on the (id, history_date, history_id) index), and a
department's rows are found through the (department, history_date) index.
"""

import datetime
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

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
    model = queryset.model
    newer = model.objects.filter(id=OuterRef("id"), history_date__lte=moment).filter(
        Q(history_date__gt=OuterRef("history_date"))
        | Q(
            history_date=OuterRef("history_date"), history_id__gt=OuterRef("history_id")
        )
    )
    return queryset.filter(history_date__lte=moment).exclude(Exists(newer))


@dataclass(frozen=True)
class MembershipThen:
    """One membership as it stood at a moment."""

    membership_id: int
    doctor_id: int
    department_id: int
    role: str
    is_primary: bool
    joined_on: datetime.date

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


def department_members_on(
    department: Department, day: datetime.date
) -> list[MemberOnDate]:
    """Who was in `department` at the end of `day`, as the system knew it then.

    Two queries: the memberships, then the doctors as they were (a doctor
    deleted since is still listed, with the name recorded then).
    """
    moment = end_of_day(day)
    members = {
        then.doctor_id: then
        for then in memberships_at(moment, department_id=department.pk)
    }
    if not members:
        return []
    in_department = newest_up_to(
        HistoricalMembership.objects.filter(department_id=department.pk), moment
    ).exclude(history_type="-")
    doctors = newest_up_to(
        HistoricalDoctor.objects.filter(id__in=in_department.values("doctor_id")),
        moment,
    ).values_list("id", "license_number", "first_name", "last_name")
    known = {values[0]: values[1:] for values in doctors}
    missing = set(members) - set(known)
    if missing:
        # Doctors written without a history row (raw SQL, fixtures): today's values.
        known.update(
            (values[0], values[1:])
            for values in Doctor.objects.filter(pk__in=missing).values_list(
                "pk", "license_number", "first_name", "last_name"
            )
        )
    result = [
        MemberOnDate(
            doctor_id=doctor_id,
            license_number=known.get(doctor_id, ("?", "", ""))[0],
            first_name=known.get(doctor_id, ("?", "", ""))[1],
            last_name=known.get(doctor_id, ("?", "", ""))[2],
            role=then.role,
            is_primary=then.is_primary,
            joined_on=then.joined_on,
        )
        for doctor_id, then in members.items()
    ]
    result.sort(
        key=lambda m: (
            m.role != Membership.Role.HEAD,
            m.last_name,
            m.first_name,
            m.license_number,
        )
    )
    return result


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
