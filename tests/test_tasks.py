"""Welcome emails: queued in the change's transaction, sent by the real worker."""

import io
import json
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from doctors import tasks
from doctors.models import Doctor, WelcomeEmailFailure
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


# --- One bad name or address never stops the others; bounded retries ------------


class FlakyMailServer(locmem.EmailBackend):
    """The test outbox, behind a mail server that can be down or refuse addresses."""

    down = False
    refused: set[str] = set()

    def send_messages(self, messages):
        if FlakyMailServer.down:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        for message in messages:
            if set(message.to) & FlakyMailServer.refused:
                raise smtplib.SMTPRecipientsRefused(
                    {message.to[0]: (550, b"5.1.1 No such user")}
                )
        return super().send_messages(messages)


@pytest.fixture
def mail_server(settings):
    settings.MAILERS = {
        "default": {"BACKEND": f"{__name__}.{FlakyMailServer.__qualname__}"}
    }
    settings.WELCOME_EMAIL_MAX_ATTEMPTS = 4
    settings.WELCOME_EMAIL_RETRY_SECONDS = 60
    FlakyMailServer.down = False
    FlakyMailServer.refused = set()
    yield FlakyMailServer
    FlakyMailServer.down = False
    FlakyMailServer.refused = set()


def welcome_batch(*doctors) -> None:
    """One welcome task for these doctors (their own single tasks dropped)."""
    DBTaskResult.objects.all().delete()
    mail.outbox.clear()
    with transaction.atomic():
        tasks.queue_welcome_emails([doctor.pk for doctor in doctors])


def waiting_retry() -> DBTaskResult:
    return DBTaskResult.objects.get(status="READY")


def make_retry_due() -> None:
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())


def test_a_line_break_in_a_name_cannot_add_a_header_or_stop_the_batch():
    """The name is sent on one line; nobody else receives it; the next one goes."""
    injected = DoctorFactory(
        first_name="Ann\r\nBcc: spy@evil.test\n", last_name="Lee\x7f"
    )
    plain = DoctorFactory(first_name="Bo", last_name="Ek")
    welcome_batch(injected, plain)
    run_worker()
    assert sorted(m.to[0] for m in mail.outbox) == sorted([injected.email, plain.email])
    message = next(m for m in mail.outbox if m.to == [injected.email])
    assert message.subject == "Welcome to the clinic, Dr Ann Bcc: spy@evil.test Lee"
    assert message.recipients() == [injected.email]
    assert "Bcc" not in message.message()
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    assert not WelcomeEmailFailure.objects.exists()


def test_names_keep_their_letters_and_lose_only_line_breaks_and_controls():
    assert tasks.one_line("  Zoë\u200c\tAnn\u2028Ng\x1b[2J \r\n") == (
        "Zoë\u200c Ann Ng[2J"
    )


def test_a_refused_address_is_recorded_given_up_and_the_rest_are_sent(mail_server):
    first, refused, last = DoctorFactory(), DoctorFactory(), DoctorFactory()
    Doctor.objects.filter(pk=first.pk).update(email="first\n@clinic.test")
    mail_server.refused = {refused.email}
    welcome_batch(first, refused, last)
    run_worker()
    assert [m.to for m in mail.outbox] == [[last.email]]
    failures = {f.doctor_id: f for f in WelcomeEmailFailure.objects.all()}
    assert set(failures) == {first.pk, refused.pk}
    assert failures[first.pk].reason.startswith("ValueError: ")
    assert "550" in failures[refused.pk].reason
    assert all(f.gave_up and f.retry_at is None for f in failures.values())
    # Permanent refusals are not retried; the task failed for good.
    result = DBTaskResult.objects.get()
    assert result.status == "FAILED"
    assert result.exception_class_path.endswith("WelcomeEmailsFailed")


def test_a_mail_server_outage_is_retried_with_doubling_delays_then_given_up(
    mail_server, client
):
    doctors = [DoctorFactory(), DoctorFactory()]
    mail_server.down = True
    welcome_batch(*doctors)
    delays = []
    for attempt in range(1, 4):
        run_worker()
        retry = waiting_retry()
        assert retry.args_kwargs["kwargs"] == {"attempt": attempt + 1}
        assert sorted(retry.args_kwargs["args"][0]) == sorted(d.pk for d in doctors)
        assert retry.priority < 0  # first attempts of new doctors go first
        failures = WelcomeEmailFailure.objects.all()
        assert {(f.attempts, f.gave_up) for f in failures} == {(attempt, False)}
        assert "SMTPServerDisconnected" in failures[0].reason
        delays.append(round((retry.run_after - timezone.now()).total_seconds()))
        run_worker()  # not due yet: nothing runs
        assert waiting_retry().pk == retry.pk
        make_retry_due()
    assert all(abs(d - e) <= 2 for d, e in zip(delays, [60, 120, 240], strict=True))
    run_worker()  # the fourth and last attempt
    assert not DBTaskResult.objects.filter(status="READY").exists()
    assert mail.outbox == []
    assert {(f.attempts, f.gave_up) for f in WelcomeEmailFailure.objects.all()} == {
        (4, True)
    }
    worker = json.loads(client.get("/healthz").content)["checks"]["worker"]
    assert (worker["failed_tasks"], worker["welcome_emails_given_up"]) == (1, 2)
    assert worker["ok"]


def test_a_retry_that_gets_through_clears_the_failure(mail_server):
    doctor = DoctorFactory()
    mail_server.down = True
    welcome_batch(doctor)
    run_worker()
    assert WelcomeEmailFailure.objects.get().doctor_id == doctor.pk
    mail_server.down = False
    make_retry_due()
    run_worker()
    assert [m.to for m in mail.outbox] == [[doctor.email]]
    assert not WelcomeEmailFailure.objects.exists()
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}


def test_failures_are_logged_one_line_each_naming_the_doctor(mail_server, caplog):
    doctor = DoctorFactory()
    mail_server.refused = {doctor.email}
    welcome_batch(doctor)
    run_worker()
    assert (
        f"Welcome email to doctor #{doctor.pk} not sent (attempt 1 of 4): "
        "SMTPRecipientsRefused"
    ) in caplog.text
    assert "giving up" in caplog.text


def welcome_email_failures(*args) -> str:
    out = io.StringIO()
    call_command("welcome_email_failures", *args, stdout=out)
    return out.getvalue()


def test_failures_are_listed_and_can_be_sent_again_after_a_fix(mail_server):
    """`manage.py welcome_email_failures [--resend]`: what failed, and a retry."""
    doctor = DoctorFactory(first_name="Ann\nX", last_name="Lee")
    mail_server.refused = {doctor.email}
    welcome_batch(doctor)
    run_worker()
    listing = welcome_email_failures()
    assert listing.startswith(f"{doctor.license_number}  Dr Ann X Lee <{doctor.email}>")
    assert "1 attempt(s), given up: SMTPRecipientsRefused" in listing
    assert listing.count("\n") == 1
    mail_server.refused = set()  # the address was put right
    assert "Queued 1 welcome email(s) again." in welcome_email_failures("--resend")
    assert "queued again" in welcome_email_failures()
    run_worker()
    assert [m.to for m in mail.outbox] == [[doctor.email]]
    assert welcome_email_failures() == "Every welcome email was sent.\n"
