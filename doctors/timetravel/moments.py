"""A department's members on a date, on both time axes, and what the history
tables had recorded up to a moment.

Valid time (the clinic's calendar): who was a member on day D is the periods
covering D, read from the membership table. System time ("as recorded on"):
the state of an object at a moment is its newest history row recorded up to
then (ties broken by history_id), unless that row records a deletion; every
row recorded up to and including the moment counts. "As the system knew it at
the end of a day" is the state at the last instant of that day in the
clinic's time zone (settings.TIME_ZONE).

Each question is answered by one query whatever the number of members: valid
time through the (department, joined_on) index; as recorded, a department's
rows are found through the (department, history_date) index, and a row counts
when it is the newest of its object up to the moment (one seek on the (id,
history_date, history_id) index per row).
"""

import datetime
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from django.db import connections, router
from django.db.models import OuterRef, QuerySet, Subquery
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


class MemberOnDate(NamedTuple):
    """One line of "who was in the department": the doctor as known then. (A
    named tuple: a department's 15,000 are made from rows at tuple speed.)"""

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
HEAD = Membership.Role.HEAD.value


def department_members_on(
    department: Department,
    day: datetime.date,
    *,
    as_recorded_on: datetime.datetime | None = None,
) -> list[MemberOnDate]:
    """Who was in `department` on `day` in the clinic's calendar (valid time):
    the periods covering that day, with the doctors as they are now. With
    `as_recorded_on`, what the records said at that instant about that day
    (system time): the periods and doctors as the history tables held them
    then, everything recorded up to and including that instant counted.

    Heads first, then by name. One query either way.
    """
    connection = connections[router.db_for_read(Membership)]
    if as_recorded_on is None:
        sql, params = _valid_time_sql(connection, department.pk, day)
    else:
        sql, params = _recorded_sql(connection, department.pk, day, as_recorded_on)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if rows and not _typed(rows[0]):
        rows = [_converted(row) for row in rows]
    members = list(map(MemberOnDate._make, rows))
    if any(m.license_number is None for m in members):
        members = _with_todays_doctors(members)
    # By name, then heads first (a stable sort keeps the names' order).
    # Positions, not names: at 15,000 rows a named field's lookup shows.
    members.sort(key=itemgetter(3, 2, 1))
    members.sort(key=lambda m: m[4] != HEAD)
    return members


# The columns of MemberOnDate, in its order; "m" is a membership row, "d" its
# doctor's.
MEMBER_COLUMNS_SQL = (
    "m.doctor_id, d.license_number, d.first_name, d.last_name, "
    "m.role, m.is_primary, m.joined_on, m.left_on"
)
COVERING_SQL = "m.joined_on <= %s AND (m.left_on IS NULL OR m.left_on >= %s)"


def _typed(row: tuple) -> bool:
    """Whether the driver gave Python's types (every row comes the same way)."""
    return type(row[5]) is bool and type(row[6]) is datetime.date


def _converted(row: tuple) -> tuple:
    """Python's types for a row where a backend's converters do not reach
    (SQLite hands back 0/1 and text for a column it cannot type)."""
    *start, is_primary, joined_on, left_on = row
    return (*start, bool(is_primary), _date(joined_on), _date(left_on))


def _date(value) -> datetime.date | None:
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value)[:10])


def _valid_time_sql(connection, department_id: int, day: datetime.date):
    """The department's periods covering `day`, with their doctors as now.
    Hand-written, as the other axis's: at 15,000 members the ORM's row
    conversion cost more than the query (measured 2.5x on SQLite)."""
    quote = connection.ops.quote_name
    on = connection.ops.adapt_datefield_value(day)
    sql = f"""
        SELECT {MEMBER_COLUMNS_SQL}
        FROM {quote(Membership._meta.db_table)} m
        JOIN {quote(Doctor._meta.db_table)} d ON d.id = m.doctor_id
        WHERE m.department_id = %s AND {COVERING_SQL}
    """
    return sql, [department_id, on, on]


def _recorded_sql(
    connection, department_id: int, day: datetime.date, moment: datetime.datetime
):
    """The department's periods covering `day` as recorded at `moment`, each
    with its doctor as recorded then.

    A membership row counts when it is the newest of its period up to the
    moment (a correlated LIMIT 1: one seek on the (id, history_date,
    history_id) index per candidate; candidates come from the (department,
    history_date) index and are first cut down to the rows covering the day).
    Its doctor is the history row found the same way, joined by its key: one
    seek per member instead of one per column.
    """
    quote = connection.ops.quote_name
    memberships = quote(HistoricalMembership._meta.db_table)
    doctors = quote(HistoricalDoctor._meta.db_table)
    sql = f"""
        SELECT {MEMBER_COLUMNS_SQL}
        FROM {memberships} m
        LEFT JOIN {doctors} d ON d.history_id = (
            SELECT d2.history_id FROM {doctors} d2
            WHERE d2.id = m.doctor_id AND d2.history_date <= %s
            ORDER BY d2.history_date DESC, d2.history_id DESC
            LIMIT 1
        )
        WHERE m.department_id = %s
          AND m.history_date <= %s
          AND {COVERING_SQL}
          AND m.history_type <> '-'
          AND m.history_id = (
            SELECT m2.history_id FROM {memberships} m2
            WHERE m2.id = m.id AND m2.history_date <= %s
            ORDER BY m2.history_date DESC, m2.history_id DESC
            LIMIT 1
          )
    """
    when = connection.ops.adapt_datetimefield_value(moment)
    on = connection.ops.adapt_datefield_value(day)
    return sql, [when, department_id, when, on, on, when]


def _with_todays_doctors(members: list[MemberOnDate]) -> list[MemberOnDate]:
    """Doctors written without a history row (raw SQL, fixtures): today's
    values, or "?" for one deleted since."""
    missing = {m.doctor_id for m in members if m.license_number is None}
    today = {
        values[0]: values[1:]
        for values in Doctor.objects.filter(pk__in=missing).values_list(
            "pk", *DOCTOR_VALUES
        )
    }
    unknown = ("?", "", "")
    return [
        m
        if m.license_number is not None
        else m._replace(
            **dict(zip(DOCTOR_VALUES, today.get(m.doctor_id, unknown), strict=True))
        )
        for m in members
    ]


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
