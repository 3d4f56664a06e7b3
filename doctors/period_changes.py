"""The changes staff make to membership periods, each a dated fact or a
correction, in one place for every road (admin pages, actions, commands).

- `join`: a new period from a day (today by default).
- `leave`: end periods on a day (yesterday by default, so the doctor is no
  longer a member today); a period that starts after that day is cancelled.
- `change_on`: from a day on, the role or primary flag is different: the
  period ends the day before and a new one starts on the day, so every day
  has one answer. A change from the period's own first day rewrites it.
- `make_head` / `make_primary`: `change_on` for the one who takes the role
  and for the one who holds it on that day, in the order the rules allow.
- `correct`: a period's own dates or role were wrong: rewritten in place and
  recorded as a correction, not as a change.

Each saves row by row, so history rows, feed events and admin messages follow
through the signal receivers. The kind of change rides on the saved instance
as `period_event` (see PeriodEvent) for the receivers to word it; a row
saved without one is worded from what changed. Rules the database enforces
(doctors.period_rules) are checked first with full_clean(), so a refusal
names the other period; a race past the check is refused by the database.
"""

import datetime

from django.db import transaction

from . import periods
from .models import Department, Doctor, Membership
from .periods import PeriodEvent


def _save(membership: Membership, event: PeriodEvent, **kwargs) -> Membership:
    membership.full_clean(validate_unique=False)
    membership.period_event = event
    membership.save(**kwargs)
    return membership


def join(
    doctor: Doctor,
    department: Department,
    *,
    first_day: datetime.date | None = None,
    last_day: datetime.date | None = None,
    role: str = Membership.Role.MEMBER,
    is_primary: bool = False,
) -> Membership:
    """A new period of `doctor` in `department`."""
    membership = Membership(
        doctor=doctor,
        department=department,
        joined_on=first_day or periods.today(),
        left_on=last_day,
        role=role,
        is_primary=is_primary,
    )
    return _save(membership, PeriodEvent.STARTED)


def leave(memberships, last_day: datetime.date | None = None) -> tuple[int, int]:
    """End periods (a queryset or a list) on `last_day`; see
    MembershipQuerySet.end. Returns (ended, cancelled)."""
    if not hasattr(memberships, "end"):
        memberships = Membership.objects.filter(pk__in=[m.pk for m in memberships])
    return memberships.end(last_day)


def change_on(
    membership: Membership,
    day: datetime.date | None = None,
    *,
    role: str | None = None,
    is_primary: bool | None = None,
) -> Membership:
    """From `day` (today by default) the period holds `role` / `is_primary`.
    Returns the period that covers `day` afterwards."""
    day = day or periods.today()
    new_role = membership.role if role is None else role
    new_primary = membership.is_primary if is_primary is None else is_primary
    if (new_role, new_primary) == (membership.role, membership.is_primary):
        return membership
    if not membership.covers(day) and day > membership.joined_on:
        raise ValueError(f"{membership} does not cover {day}.")
    with transaction.atomic():
        if day <= membership.joined_on:
            membership.role, membership.is_primary = new_role, new_primary
            return _save(membership, PeriodEvent.CHANGED)
        following = Membership(
            doctor_id=membership.doctor_id,
            department_id=membership.department_id,
            joined_on=day,
            left_on=membership.left_on,
            role=new_role,
            is_primary=new_primary,
        )
        membership.left_on = day - periods.ONE_DAY
        _save(membership, PeriodEvent.CHANGED, update_fields=["left_on"])
        return _save(following, PeriodEvent.CHANGED)


def _holder_on(day: datetime.date, **lookup) -> Membership | None:
    """The period holding a role on `day`, locked until the caller's
    transaction ends. A second hand-over of the same role waits here for the
    first to commit and then finds the role already passed on, so it is
    refused naming the new holder (not the old one's following period)."""
    return Membership.objects.covering(day).filter(**lookup).select_for_update().first()


def make_head(membership: Membership, day: datetime.date | None = None) -> Membership:
    """`membership`'s doctor heads its department from `day`; whoever headed
    it on that day is a member from then."""
    day = day or periods.today()
    with transaction.atomic():
        holder = _holder_on(
            day, department_id=membership.department_id, role=Membership.Role.HEAD
        )
        if holder is not None and holder.pk != membership.pk:
            change_on(holder, day, role=Membership.Role.MEMBER)
        membership.refresh_from_db()
        return change_on(membership, day, role=Membership.Role.HEAD)


def make_primary(
    membership: Membership, day: datetime.date | None = None
) -> Membership:
    """`membership`'s department is its doctor's primary one from `day`."""
    day = day or periods.today()
    with transaction.atomic():
        holder = _holder_on(day, doctor_id=membership.doctor_id, is_primary=True)
        if holder is not None and holder.pk != membership.pk:
            change_on(holder, day, is_primary=False)
        membership.refresh_from_db()
        return change_on(membership, day, is_primary=True)


CORRECTABLE = ("joined_on", "left_on", "role", "is_primary")


def correct(membership: Membership, **values) -> Membership:
    """Rewrite a period's own dates, role or primary flag (it was entered
    wrong): recorded as a correction."""
    unknown = set(values) - set(CORRECTABLE)
    if unknown:
        raise TypeError(f"Cannot correct {sorted(unknown)}.")
    for name, value in values.items():
        setattr(membership, name, value)
    return _save(membership, PeriodEvent.CORRECTED)


def cancel(membership: Membership) -> None:
    """A period that never happened: deleted, recorded as a correction."""
    membership.cancel()
