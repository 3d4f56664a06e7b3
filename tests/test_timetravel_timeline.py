"""A doctor's membership timeline: joined, role and primary changes, left."""

import pytest

from doctors.context import acting_as
from doctors.models import Membership
from doctors.timetravel.timeline import JOINED, LEFT, PRIMARY, ROLE, doctor_timeline
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db


def test_the_timeline_tells_each_change_with_who(superuser):
    card = DepartmentFactory(name="Cardiology")
    neur = DepartmentFactory(name="Neurology")
    doctor = DoctorFactory()
    with acting_as(superuser, source="admin"):
        doctor.departments.add(card)
        membership = Membership.objects.get(doctor=doctor)
        membership.role = Membership.Role.HEAD
        membership.save()
        membership.is_primary = True
        membership.save()
        # The row edited to point at another department: a leave and a join.
        membership.department = neur
        membership.save()
        doctor.departments.remove(neur)
    entries = doctor_timeline(doctor.pk)
    assert [(e.kind, e.department_name, e.details) for e in reversed(entries)] == [
        (JOINED, "Cardiology", "as member"),
        (ROLE, "Cardiology", "member → head of department"),
        (PRIMARY, "Cardiology", "made primary"),
        (LEFT, "Cardiology", "was head of department, primary"),
        (JOINED, "Neurology", "as head of department, primary"),
        (LEFT, "Neurology", "was head of department, primary"),
    ]
    assert {e.user for e in entries} == {superuser.username}
    assert entries == sorted(
        entries, key=lambda e: (e.when, e.history_id), reverse=True
    )


def test_a_deleted_department_keeps_its_name_and_other_doctors_stay_out():
    card = DepartmentFactory(name="Cardiology")
    doctor, other = DoctorFactory(), DoctorFactory()
    doctor.departments.add(card)
    other.departments.add(card)
    card.delete()
    entries = doctor_timeline(doctor.pk)
    assert [(e.kind, e.department_name) for e in entries] == [
        (LEFT, "Cardiology"),
        (JOINED, "Cardiology"),
    ]
