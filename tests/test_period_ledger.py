"""Membership periods against a ledger kept by hand (Hypothesis, stateful).

Random steps go through every road that changes periods (doctors.period_changes,
the many-to-many managers from both sides, MembershipQuerySet.end) with dates
in the past and the future, and an in-memory model says what each step must
do, including the steps the rules must refuse. After every step both time
axes are asked:

- valid time: the stored periods equal the model's, and
  department_members_on(department, day) answers from them for days around
  every date the steps use;
- system time: department_members_on(..., as_recorded_on=instant) for an
  instant taken after an earlier step answers what the model held then; an
  earlier instant's answer never changes.

"Today" is the real one (the code reads the clinic's clock); a run that
crosses midnight stops stepping.
"""

import dataclasses
import datetime
import os

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from doctors import period_changes, periods
from doctors.models import Membership
from doctors.timetravel.moments import department_members_on
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db

# Plain strings: a TextChoices member hashes unlike the string it equals.
HEAD, MEMBER = "head", "member"
# Days the steps use, relative to today: few enough that periods meet, touch
# and overlap often.
OFFSETS = (-400, -120, -30, -2, -1, 0, 1, 2, 30, 120)
# Days asked about, one more after each step besides today (the stored
# periods are compared whole every time): step days, the days before them and
# one far ahead.
ASKED = (-121, -31, -2, -1, 1, 2, 29, 120, 600)
ASKED_AS_RECORDED = (-31, 0, 120)
DOCTORS, DEPARTMENTS = 3, 2
# Modest for the suite (about a second an example); PERIOD_LEDGER_EXAMPLES=500
# for a long search.
EXAMPLES = int(os.environ.get("PERIOD_LEDGER_EXAMPLES", "15"))

offsets = st.sampled_from(OFFSETS)


@dataclasses.dataclass(frozen=True)
class Period:
    doctor: int  # positions in the machine's doctors and departments
    department: int
    first: datetime.date
    last: datetime.date | None
    role: str = MEMBER
    primary: bool = False

    def key(self) -> tuple:
        return (*dataclasses.astuple(self)[:3], self.last or datetime.date.max)

    def covers(self, day: datetime.date) -> bool:
        return self.first <= day and (self.last is None or day <= self.last)

    def meets(self, other: "Period") -> bool:
        """Whether the two periods share a day."""
        return (self.last is None or other.first <= self.last) and (
            other.last is None or self.first <= other.last
        )


def breaks_a_rule(ledger: list[Period]) -> bool:
    if any(p.last is not None and p.last < p.first for p in ledger):
        return True
    ordered = sorted(ledger, key=Period.key)
    for index, one in enumerate(ordered):
        for other in ordered[index + 1 :]:
            if not one.meets(other):
                continue
            same_place = (one.doctor, one.department) == (
                other.doctor,
                other.department,
            )
            two_heads = one.department == other.department and one.role == other.role
            two_primary = one.doctor == other.doctor and one.primary and other.primary
            if same_place or (two_heads and one.role == HEAD) or two_primary:
                return True
    return False


def ended(ledger, chosen, last_day: datetime.date | None, today: datetime.date):
    """MembershipQuerySet.end on `chosen`: periods still going after the last
    day end on it, those starting after it (or today, by default) are
    cancelled."""
    cancel_from = today if last_day is None else last_day + periods.ONE_DAY
    last_day = last_day or today - periods.ONE_DAY
    result = set(ledger)
    for p in chosen:
        if p.last is not None and p.last <= last_day:
            continue
        result.discard(p)
        if p.first < cancel_from:
            result.add(dataclasses.replace(p, last=last_day))
    return frozenset(result)


def changed_on(ledger, p: Period, day, *, role=None, primary=None):
    """period_changes.change_on: the period ends the day before and the
    next one holds the new role or flag; from its own first day it is
    rewritten."""
    new = dataclasses.replace(
        p,
        role=p.role if role is None else role,
        primary=p.primary if primary is None else primary,
    )
    if new == p:
        return ledger
    result = set(ledger) - {p}
    if day <= p.first:
        result.add(new)
    else:
        result |= {
            dataclasses.replace(p, last=day - periods.ONE_DAY),
            dataclasses.replace(new, first=day),
        }
    return frozenset(result)


class PeriodLedger(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.today = periods.today()
        self.doctors = [DoctorFactory() for _ in range(DOCTORS)]
        self.departments = [DepartmentFactory() for _ in range(DEPARTMENTS)]
        self.ledger: frozenset[Period] = frozenset()
        # (instant, the ledger then), an instant taken after each step.
        self.recorded: list[tuple[datetime.datetime, frozenset[Period]]] = []
        self.take_instant()

    def teardown(self):
        try:
            if self.same_day():
                for instant, ledger in self.recorded:
                    for offset in ASKED_AS_RECORDED:
                        self.check_recorded(instant, ledger, offset)
        finally:
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

    # The model's helpers.

    def day(self, offset: int) -> datetime.date:
        return self.today + datetime.timedelta(days=offset)

    def same_day(self) -> bool:
        return periods.today() == self.today

    def pick(self, index: int) -> Period:
        ordered = sorted(self.ledger, key=Period.key)
        return ordered[index % len(ordered)]

    def row(self, p: Period) -> Membership:
        return Membership.objects.get(
            doctor=self.doctors[p.doctor],
            department=self.departments[p.department],
            joined_on=p.first,
        )

    def stored(self) -> frozenset[Period]:
        doctor = {d.pk: n for n, d in enumerate(self.doctors)}
        department = {d.pk: n for n, d in enumerate(self.departments)}
        return frozenset(
            Period(doctor[a], department[b], first, last, role, primary)
            for a, b, first, last, role, primary in Membership.objects.values_list(
                "doctor_id",
                "department_id",
                "joined_on",
                "left_on",
                "role",
                "is_primary",
            )
        )

    def expect(self, after, write) -> None:
        """`write` must give `after` (periods; a period twice is two), or be
        refused when `after` breaks a rule (then nothing changes)."""
        if not self.same_day():
            return
        after = list(after)
        if breaks_a_rule(after):
            with pytest.raises((ValidationError, IntegrityError)):
                with transaction.atomic():
                    write()
        else:
            with transaction.atomic():
                write()
            self.ledger = frozenset(after)
        self.take_instant()

    def take_instant(self) -> None:
        instant = timezone.now()
        self.recorded.append((instant, self.ledger))
        # The next step's rows are recorded strictly after this instant.
        while timezone.now() <= instant:
            pass

    def members(self, ledger, department: int, day: datetime.date) -> set[tuple]:
        return {
            (self.doctors[p.doctor].pk, p.role, p.primary, p.first, p.last)
            for p in ledger
            if p.department == department and p.covers(day)
        }

    def answered(self, department: int, day, **kwargs) -> set[tuple]:
        answer = department_members_on(self.departments[department], day, **kwargs)
        rows = {
            (m.doctor_id, m.role, m.is_primary, m.joined_on, m.left_on) for m in answer
        }
        assert len(rows) == len(answer), answer
        return rows

    def check_recorded(self, instant, ledger, offset: int) -> None:
        day = self.day(offset)
        for department in range(DEPARTMENTS):
            assert self.answered(department, day, as_recorded_on=instant) == (
                self.members(ledger, department, day)
            ), (instant, day)

    # Roads: doctors.period_changes.

    @rule(
        doctor=st.integers(0, DOCTORS - 1),
        department=st.integers(0, DEPARTMENTS - 1),
        first=offsets,
        length=st.none() | st.sampled_from((0, 1, 29, 90, 500)),
        role=st.sampled_from((MEMBER, MEMBER, HEAD)),
        primary=st.booleans(),
    )
    def join(self, doctor, department, first, length, role, primary):
        first = self.day(first)
        last = None if length is None else first + datetime.timedelta(days=length)
        new = Period(doctor, department, first, last, role, primary)
        self.expect(
            [*self.ledger, new],
            lambda: period_changes.join(
                self.doctors[doctor],
                self.departments[department],
                first_day=first,
                last_day=last,
                role=role,
                is_primary=primary,
            ),
        )

    @rule(
        doctor=st.integers(0, DOCTORS - 1),
        department=st.integers(0, DEPARTMENTS - 1),
        last=st.none() | offsets,
        through=st.sampled_from(("leave", "end")),
    )
    def leave(self, doctor, department, last, through):
        last = None if last is None else self.day(last)
        chosen = [
            p for p in self.ledger if (p.doctor, p.department) == (doctor, department)
        ]
        rows = Membership.objects.filter(
            doctor=self.doctors[doctor], department=self.departments[department]
        )
        self.expect(
            ended(self.ledger, chosen, last, self.today),
            (lambda: period_changes.leave(rows, last))
            if through == "leave"
            else (lambda: rows.end(last)),
        )

    @precondition(lambda self: self.ledger)
    @rule(pick=st.integers(0, 100), into=st.integers(0, 700))
    def make_head(self, pick, into):
        p = self.pick(pick)
        day = self.within(p, into)
        holder = self.holder(day, department=p.department, role=HEAD)
        after = self.ledger
        if holder is not None and holder != p:
            after = changed_on(after, holder, day, role=MEMBER)
        after = changed_on(after, p, day, role=HEAD)
        self.expect(after, lambda: period_changes.make_head(self.row(p), day))

    @precondition(lambda self: self.ledger)
    @rule(pick=st.integers(0, 100), into=st.integers(0, 700))
    def make_primary(self, pick, into):
        p = self.pick(pick)
        day = self.within(p, into)
        holder = self.holder(day, doctor=p.doctor, primary=True)
        after = self.ledger
        if holder is not None and holder != p:
            after = changed_on(after, holder, day, primary=False)
        after = changed_on(after, p, day, primary=True)
        self.expect(after, lambda: period_changes.make_primary(self.row(p), day))

    @precondition(lambda self: self.ledger)
    @rule(pick=st.integers(0, 100), into=st.integers(0, 700), primary=st.booleans())
    def step_down_on(self, pick, into, primary):
        """A head becomes a member, or a primary department an ordinary one,
        from a date."""
        p = self.pick(pick)
        day = self.within(p, into)
        change = {"is_primary": False} if primary else {"role": MEMBER}
        after = changed_on(
            self.ledger, p, day, **({"primary": False} if primary else {"role": MEMBER})
        )
        self.expect(after, lambda: period_changes.change_on(self.row(p), day, **change))

    @precondition(lambda self: self.ledger)
    @rule(
        pick=st.integers(0, 100),
        first=st.none() | offsets,
        last=st.none() | st.just("open") | offsets,
        role=st.none() | st.sampled_from((MEMBER, HEAD)),
        primary=st.none() | st.booleans(),
    )
    def correct(self, pick, first, last, role, primary):
        p = self.pick(pick)
        values, fixed = {}, {}
        if first is not None:
            values["joined_on"] = fixed["first"] = self.day(first)
        if last is not None:
            values["left_on"] = fixed["last"] = (
                None if last == "open" else self.day(last)
            )
        if role is not None:
            values["role"] = fixed["role"] = role
        if primary is not None:
            values["is_primary"] = fixed["primary"] = primary
        after = [*(self.ledger - {p}), dataclasses.replace(p, **fixed)]
        self.expect(after, lambda: period_changes.correct(self.row(p), **values))

    @precondition(lambda self: self.ledger)
    @rule(pick=st.integers(0, 100))
    def cancel(self, pick):
        p = self.pick(pick)
        self.expect(self.ledger - {p}, lambda: period_changes.cancel(self.row(p)))

    # Roads: the many-to-many managers, which see today's periods.

    @rule(
        doctor=st.integers(0, DOCTORS - 1),
        department=st.integers(0, DEPARTMENTS - 1),
        from_department=st.booleans(),
    )
    def add(self, doctor, department, from_department):
        after = self.added(self.ledger, doctor, department)
        if from_department:
            write = lambda: self.departments[department].doctors.add(  # noqa: E731
                self.doctors[doctor]
            )
        else:
            write = lambda: self.doctors[doctor].departments.add(  # noqa: E731
                self.departments[department]
            )
        self.expect(after, write)

    @rule(
        doctor=st.integers(0, DOCTORS - 1),
        department=st.integers(0, DEPARTMENTS - 1),
        from_department=st.booleans(),
    )
    def remove(self, doctor, department, from_department):
        after = self.removed(self.ledger, doctor, department)
        if from_department:
            write = lambda: self.departments[department].doctors.remove(  # noqa: E731
                self.doctors[doctor]
            )
        else:
            write = lambda: self.doctors[doctor].departments.remove(  # noqa: E731
                self.departments[department]
            )
        self.expect(after, write)

    @rule(doctor=st.integers(0, DOCTORS - 1), keep=st.sets(st.integers(0, 1)))
    def set_departments(self, doctor, keep):
        current = self.current_departments(doctor)
        after = self.ledger
        for department in current - keep:
            after = self.removed(after, doctor, department)
        for department in keep - current:
            after = self.added(after, doctor, department)
        chosen = [self.departments[n] for n in sorted(keep)]
        self.expect(after, lambda: self.doctors[doctor].departments.set(chosen))

    @rule(department=st.integers(0, DEPARTMENTS - 1))
    def clear_department(self, department):
        after = self.ledger
        for doctor in range(DOCTORS):
            after = self.removed(after, doctor, department)
        self.expect(after, lambda: self.departments[department].doctors.clear())

    def added(self, ledger, doctor, department):
        """add(): a period from today, unless one covers today or starts later."""
        if any(
            (p.doctor, p.department) == (doctor, department)
            and (p.last is None or p.last >= self.today)
            for p in ledger
        ):
            return ledger
        return ledger | {Period(doctor, department, self.today, None)}

    def removed(self, ledger, doctor, department):
        """remove(), clear(): what ending on yesterday does to the pair's
        periods, the future ones included (they are cancelled)."""
        mine = [p for p in ledger if (p.doctor, p.department) == (doctor, department)]
        return ended(ledger, mine, None, self.today)

    def current_departments(self, doctor) -> set[int]:
        return {
            p.department
            for p in self.ledger
            if p.doctor == doctor and p.covers(self.today)
        }

    def within(self, p: Period, into: int) -> datetime.date:
        """A day of period `p`."""
        day = p.first + datetime.timedelta(days=into)
        return day if p.last is None else min(day, p.last)

    def holder(self, day, **lookup) -> Period | None:
        (found,) = [
            p
            for p in self.ledger
            if p.covers(day) and all(getattr(p, k) == v for k, v in lookup.items())
        ] or [None]
        return found

    # Both axes, after every step.

    @invariant()
    def valid_time(self):
        if not self.same_day():
            return
        assert self.stored() == self.ledger
        for offset in (0, ASKED[len(self.recorded) % len(ASKED)]):
            day = self.day(offset)
            for department in range(DEPARTMENTS):
                assert self.answered(department, day) == self.members(
                    self.ledger, department, day
                ), day

    @invariant()
    def system_time(self):
        """What the records said just after the last step (the teardown asks
        every earlier instant again, after all the steps)."""
        if not self.same_day():
            return
        instant, ledger = self.recorded[-1]
        offset = ASKED_AS_RECORDED[len(self.recorded) % len(ASKED_AS_RECORDED)]
        self.check_recorded(instant, ledger, offset)


def test_periods_follow_the_ledger_on_every_road_and_both_axes():
    run_state_machine_as_test(
        PeriodLedger,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
