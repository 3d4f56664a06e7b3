"""A doctor's periods and, for each, when it was recorded, ended and
corrected, by whom and in which change-set."""

import datetime

import pytest

from doctors import period_changes
from doctors.context import acting_as
from doctors.models import ChangeSet, Membership
from doctors.timetravel.timeline import (
    CANCELLED,
    CORRECTED,
    ENDED,
    RECORDED,
    doctor_periods,
)
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db
D = datetime.date


def test_each_period_with_its_records_and_who_made_them(superuser):
    card = DepartmentFactory(name="Cardiology")
    neur = DepartmentFactory(name="Neurology")
    doctor = DoctorFactory()
    with acting_as(superuser, source="admin"):
        period = period_changes.join(doctor, card, first_day=D(2024, 2, 1))
    first = ChangeSet.objects.latest("pk")
    with acting_as(superuser, source="admin"):
        # The first day was typed wrong; then head from 1 June 2024.
        period_changes.correct(period, joined_on=D(2024, 3, 1))
        period_changes.make_head(period, D(2024, 6, 1))
        # A future period in Neurology, entered by mistake: cancelled.
        mistake = period_changes.join(doctor, neur, first_day=D(2099, 1, 1))
        period_changes.cancel(mistake)
    found = doctor_periods(doctor.pk)
    assert [(p.department_name, p.role_label, p.dates, p.status) for p in found] == [
        ("Neurology", "Member", "from 1 Jan 2099", "removed from the records"),
        ("Cardiology", "Head of department", "from 1 Jun 2024", "current"),
        ("Cardiology", "Member", "1 Mar 2024 to 31 May 2024", "ended"),
    ]
    neurology, head, member = found
    assert [(r.kind, r.details) for r in member.records] == [
        (RECORDED, "Member from 1 Feb 2024"),
        (CORRECTED, "first day 1 Feb 2024 → 1 Mar 2024"),
        (ENDED, "last day 31 May 2024"),
    ]
    assert member.recorded.change_set == first
    assert member.recorded.label == "Recorded"
    assert [r.details for r in member.corrections] == [
        "first day 1 Feb 2024 → 1 Mar 2024"
    ]
    assert [(r.kind, r.details) for r in head.records] == [
        (RECORDED, "Head of department from 1 Jun 2024")
    ]
    assert [r.kind for r in neurology.records] == [RECORDED, CANCELLED]
    records = [r for p in found for r in p.records]
    assert {r.user for r in records} == {superuser.username}
    assert all(r.change_set is not None for r in records)


def test_a_deleted_department_keeps_its_name_and_other_doctors_stay_out():
    card = DepartmentFactory(name="Cardiology")
    doctor, other = DoctorFactory(), DoctorFactory()
    doctor.departments.add(card)
    other.departments.add(card)
    card.delete()
    (period,) = doctor_periods(doctor.pk)
    assert period.department_name == "Cardiology"
    assert [r.kind for r in period.records] == [RECORDED, CANCELLED]
    assert period.records[1].details.startswith("was Member from ")


def test_a_row_moved_to_another_department_is_a_correction():
    card = DepartmentFactory(name="Cardiology")
    neur = DepartmentFactory(name="Neurology")
    doctor = DoctorFactory()
    doctor.departments.add(card)
    period = Membership.objects.get(doctor=doctor)
    period.department = neur
    period.is_primary = True
    period.save()
    (found,) = doctor_periods(doctor.pk)
    assert found.department_name == "Neurology"
    assert found.records[1].kind == CORRECTED
    assert found.records[1].details == (
        "primary department no → yes; department Cardiology → Neurology"
    )
