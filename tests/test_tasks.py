"""Welcome emails: queued in the change's transaction, sent by the real worker."""

import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from doctors.models import Doctor
from tests.factories import DepartmentFactory, DoctorFactory
from tests.processes import run_python

pytestmark = pytest.mark.django_db(transaction=True)


def run_worker() -> None:
    """Run the real django-tasks-db worker until the queue is empty."""
    call_command(
        "db_worker",
        "--batch",
        "--no-startup-delay",
        "--no-reload",
        stdout=io.StringIO(),
    )


def test_a_committed_doctor_gets_one_email_naming_their_departments():
    cardio = DepartmentFactory(name="Cardiology")
    neuro = DepartmentFactory(name="Neurology")
    with transaction.atomic():
        doctor = DoctorFactory(
            first_name="Jane", last_name="Roe", email="jane@clinic.test"
        )
        doctor.departments.add(cardio, neuro)
    run_worker()
    run_worker()  # a second pass finds nothing left to send
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["jane@clinic.test"]
    assert "Dr Jane Roe" in message.subject
    assert "Cardiology, Neurology" in message.body
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


def test_a_rolled_back_doctor_gets_no_email():
    with pytest.raises(RuntimeError), transaction.atomic():
        DoctorFactory()
        raise RuntimeError("the save fails")
    assert not DBTaskResult.objects.exists()
    run_worker()
    assert mail.outbox == []


def test_updating_a_doctor_sends_nothing():
    doctor = DoctorFactory()
    run_worker()
    mail.outbox.clear()
    doctor.first_name = "Changed"
    doctor.save()
    run_worker()
    assert mail.outbox == []


def test_the_email_still_goes_out_if_the_web_process_dies_after_commit():
    """The task row commits with the doctor; the process dying loses nothing."""
    result = run_python(
        "import os\n"
        "from django.db import transaction\n"
        "from doctors.models import Doctor\n"
        "with transaction.atomic():\n"
        "    Doctor.objects.create(license_number='DIE-1', first_name='Ann',\n"
        "        last_name='Lee', email='ann@clinic.test', specialty='oncology')\n"
        "os._exit(9)  # killed right after the commit, before any cleanup\n"
    )
    assert result.returncode == 9, result.stderr
    assert Doctor.objects.filter(license_number="DIE-1").exists()
    run_worker()
    assert [m.to for m in mail.outbox] == [["ann@clinic.test"]]


def test_a_doctor_deleted_before_the_worker_runs_gets_no_email():
    doctor = DoctorFactory()
    doctor.delete()
    run_worker()
    assert mail.outbox == []
