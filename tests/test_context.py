"""Change-sets (doctors/context.py): one per request, action, import or command
that changes data, carried by every feed event and history row it writes."""

import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from doctors.context import acting_as
from doctors.importing.runner import import_doctors
from doctors.models import (
    ActivityEvent,
    ChangeSet,
    Department,
    Doctor,
    ImportRun,
    Membership,
)
from tests.admin_forms import doctor_form, membership_row
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def history_change_sets() -> set:
    return {
        *Doctor.history.values_list("change_set", flat=True),
        *Department.history.values_list("change_set", flat=True),
        *Membership.history.values_list("change_set", flat=True),
    }


def test_an_admin_save_is_one_change_set(staff_client, clinic_staff):
    """Every event and history row of one save carries the same change-set,
    which records who, from where, the end time and the counts."""
    cardiology = DepartmentFactory(name="Cardiology")
    neurology = DepartmentFactory(name="Neurology")
    doctor = DoctorFactory()
    membership = MembershipFactory(doctor=doctor, department=cardiology)
    before = ChangeSet.objects.count()
    data = doctor_form(
        doctor,
        first_name="Janet",
        rows=[
            membership_row(membership, other=cardiology.pk, side="department"),
            membership_row(other=neurology.pk, side="department"),
        ],
    )
    response = staff_client.post(
        reverse("admin:doctors_doctor_change", args=[doctor.pk]), data
    )
    assert response.status_code == 302
    assert ChangeSet.objects.count() == before + 1
    change_set = ChangeSet.objects.latest("pk")
    assert change_set.actor == clinic_staff
    assert change_set.actor_name == "staff-user"
    assert change_set.source == ChangeSet._meta.get_field("source").choices[0][0]
    assert change_set.description == "Changed doctor “Dr Janet Roe”"
    assert change_set.ended_at is not None
    assert change_set.ended_at >= change_set.started_at
    assert change_set.counts == {"events": 2, "doctor": 1, "membership": 1}
    events = ActivityEvent.objects.filter(change_set=change_set)
    assert sorted(events.values_list("verb", flat=True)) == [
        "membership_added",
        "updated",
    ]
    assert Doctor.history.filter(change_set=change_set).get().first_name == "Janet"
    added = Membership.history.filter(change_set=change_set).get()
    assert added.department_id == neurology.pk


def test_a_request_that_changes_nothing_opens_no_change_set(staff_client):
    doctor = DoctorFactory()
    before = ChangeSet.objects.count()
    staff_client.get(reverse("admin:doctors_doctor_change", args=[doctor.pk]))
    staff_client.get(reverse("admin:doctors_doctor_changelist"))
    assert ChangeSet.objects.count() == before


def test_an_action_is_one_change_set_with_its_reason(staff_client):
    doctors = DoctorFactory.create_batch(3)
    response = staff_client.post(
        reverse("admin:doctors_doctor_changelist"),
        {
            "action": "deactivate",
            "_selected_action": [d.pk for d in doctors],
            "change_reason": "Left the clinic",
        },
    )
    assert response.status_code == 302
    change_set = ChangeSet.objects.latest("pk")
    assert change_set.reason == "Left the clinic"
    assert change_set.description == "Deactivate 3 doctors"
    assert change_set.counts == {"events": 1, "doctor": 3}
    rows = Doctor.history.filter(change_set=change_set)
    assert sorted(rows.values_list("id", flat=True)) == sorted(d.pk for d in doctors)
    reasons = set(rows.values_list("history_change_reason", flat=True))
    assert reasons == {"Left the clinic"}
    assert ActivityEvent.objects.get(change_set=change_set).verb == "bulk_updated"


def test_an_import_is_one_change_set_kept_on_its_run(superuser):
    DepartmentFactory(code="CARD", name="Cardiology")
    data = (
        b"license_number,first_name,last_name,email,phone,specialty,departments,"
        b"is_active\r\nLIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD,true\r\n"
        b"LIC-2,Bo,Lee,bo@clinic.test,,Cardiology,,true\r\n"
    )
    result = import_doctors(
        io.BytesIO(data), file_name="doctors.csv", user=superuser, reason="Q4 list"
    )
    assert result.ok
    run = ImportRun.objects.get()
    change_set = run.change_set
    assert change_set.description == "Import of doctors.csv"
    assert change_set.reason == "Q4 list"
    assert change_set.actor == superuser
    assert change_set.source == "import"
    assert change_set.counts == {"doctor": 2, "membership": 1, "events": 1}
    assert Doctor.history.filter(change_set=change_set).count() == 2
    assert Membership.history.filter(change_set=change_set).count() == 1
    assert ActivityEvent.objects.get(change_set=change_set).verb == "imported"


def test_a_dry_run_opens_no_change_set():
    result = import_doctors(
        io.BytesIO(
            b"license_number,first_name,last_name,email,phone,specialty,departments,"
            b"is_active\r\nLIC-1,Ann,Lee,ann@clinic.test,,Cardiology,,true\r\n"
        ),
        file_name="doctors.csv",
        dry_run=True,
    )
    assert result.ok
    assert not ChangeSet.objects.exists()
    assert ImportRun.objects.get().change_set is None


def test_a_command_is_one_change_set(tmp_path, superuser):
    path = tmp_path / "departments.csv"
    path.write_text("code,name,description,is_active\r\nCARD,Cardiology,,true\r\n")
    call_command("import_departments", str(path), "--user", superuser.username)
    change_set = ChangeSet.objects.get()
    assert change_set.actor == superuser
    assert Department.history.get().change_set == change_set


def test_a_change_set_rolled_back_is_not_reused():
    """A write after a rolled-back savepoint opens a new change-set instead of
    pointing at the vanished one."""
    with acting_as(None, source="system", description="test") as change:
        try:
            with transaction.atomic():
                DepartmentFactory(code="A", name="A")
                first = change.change_set
                raise IntegrityError("simulated")
        except IntegrityError:
            pass
        DepartmentFactory(code="B", name="B")
        second = change.change_set
    # (SQLite may hand the rolled-back id out again: compare the objects.)
    assert second is not first
    assert list(ChangeSet.objects.values_list("pk", flat=True)) == [second.pk]
    assert history_change_sets() == {second.pk}
    assert ChangeSet.objects.get().counts == {"department": 1, "events": 1}


def test_writes_outside_any_block_belong_to_no_change_set():
    DoctorFactory()
    assert history_change_sets() == {None}
    assert not ChangeSet.objects.exists()
