"""A record of the memberships at moments, to ask the history about later."""

import datetime

from django.utils import timezone

from doctors.models import Department, Doctor, Membership
from doctors.timetravel import moments

# doctor, department, role, primary, first day, last day (None: open-ended)
Fact = tuple[int, int, str, bool, datetime.date, datetime.date | None]


def current_memberships() -> set[Fact]:
    return set(
        # Every period, ended ones too: the history keeps them all.
        Membership.objects.values_list(
            "doctor_id", "department_id", "role", "is_primary", "joined_on", "left_on"
        )
    )


def recorded_memberships(moment: datetime.datetime, ids) -> set[Fact]:
    """Every membership the history holds at `moment`, asked per department and
    per doctor (both questions must agree)."""
    doctor_ids, department_ids = ids
    by_department = {
        _fact(m)
        for pk in department_ids
        for m in moments.memberships_at(moment, department_id=pk)
    }
    by_doctor = {
        _fact(m)
        for pk in doctor_ids
        for m in moments.memberships_at(moment, doctor_id=pk)
    }
    assert by_department == by_doctor
    return by_department


def _fact(m: moments.MembershipThen) -> Fact:
    return (m.doctor_id, m.department_id, m.role, m.is_primary, m.joined_on, m.left_on)


class Ledger:
    """Snapshots of the live memberships; `verify` asks the history for each."""

    def __init__(self):
        self.snapshots: list[tuple[datetime.datetime, set[Fact]]] = []
        self.doctor_ids: set[int] = set()
        self.department_ids: set[int] = set()

    def snapshot(self) -> datetime.datetime:
        self.doctor_ids |= set(Doctor.objects.values_list("pk", flat=True))
        self.department_ids |= set(Department.objects.values_list("pk", flat=True))
        moment = timezone.now()
        self.snapshots.append((moment, current_memberships()))
        return moment

    def verify(self) -> None:
        ids = (self.doctor_ids, self.department_ids)
        for moment, expected in self.snapshots:
            assert recorded_memberships(moment, ids) == expected, moment
