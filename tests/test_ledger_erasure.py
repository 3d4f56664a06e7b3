"""Erasing a doctor's personal data (doctors.ledger.erasure): gone from every
table and from a full dump, the facts kept, the chain still verifying."""

import datetime
import io
import json
import re
import shutil
import subprocess

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django_tasks_db.models import DBTaskResult

from doctors import dashboard, undo
from doctors.context import acting_as
from doctors.importing import storage
from doctors.importing.runner import import_doctors
from doctors.ledger import chain, erasure
from doctors.ledger.verify import verify
from doctors.models import (
    ActivityEvent,
    ChangeSet,
    Department,
    Doctor,
    Erasure,
    ImportRun,
    Membership,
    PersonalDataKey,
)
from doctors.timetravel.revert import RevertError, plan_revert
from tests.factories import DepartmentFactory, DoctorFactory, UserFactory

FIRST, LAST = "Zebulon", "Quartermaine"
EMAIL = "zebulon.quartermaine@clinic.test"
PHONE = "+44 7700 900461"
LICENSE = "QX-774411"
SECRETS = [FIRST, LAST, EMAIL, PHONE, LICENSE]
HEADER = (
    "license_number,first_name,last_name,email,phone,specialty,departments,is_active"
)


def _doctor_with_a_past(tmp_path=None):
    """A doctor imported into Cardiology, renamed, moved, written about in a
    change-set's reason, and named in a stored import preview."""
    with acting_as(description="set-up"):
        DepartmentFactory(code="CARD", name="Cardiology")
        DepartmentFactory(code="NEUR", name="Neurology")
    data = (
        f"{HEADER}\n{LICENSE},Zeb,{LAST},{EMAIL},{PHONE},cardiology,CARD,yes\n"
        "OK-1,Other,Person,other@clinic.test,,cardiology,CARD,yes\n"
    ).encode()
    result = import_doctors(io.BytesIO(data), file_name="doctors.csv")
    assert result.ok, result.problems
    doctor = Doctor.objects.get(license_number=LICENSE)
    with acting_as(description="rename", reason=f"{FIRST} asked for the full name"):
        doctor.first_name = FIRST
        doctor.save()
    with acting_as(description="move"):
        neurology = Department.objects.get(code="NEUR")
        Membership.objects.create(doctor=doctor, department=neurology, role="head")
    run = ImportRun.objects.create(
        kind="doctors",
        status=ImportRun.Status.PREVIEWED,
        source="admin",
        file_name="staff.csv",
        preview=[[2, LICENSE, "update", {"email": [EMAIL, "new@clinic.test"]}]],
        errors=[[3, "phone", f"{PHONE} is not a phone number"]],
    )
    storage.store(run.pk, data)
    DBTaskResult.objects.create(
        task_path="doctors.tasks.send_welcome_emails",
        args_kwargs={"args": [[doctor.pk]], "kwargs": {}},
        backend_name="default",
        queue_name="default",
        priority=0,
        traceback=f"SMTPRecipientsRefused: {{'{EMAIL}': (550, b'No such user')}}",
    )
    return Doctor.objects.get(pk=doctor.pk)


def _dump() -> str:
    """The whole database as text: pg_dump, or SQLite's .dump (with the
    full-text index blobs decoded, so their contents are searched too)."""
    if connection.vendor == "postgresql":
        settings = connection.settings_dict
        command = [
            shutil.which("pg_dump") or "/usr/bin/pg_dump",
            "--no-owner",
            "-h",
            settings["HOST"] or "127.0.0.1",
            "-p",
            str(settings["PORT"] or 5432),
            "-U",
            settings["USER"] or "postgres",
            settings["NAME"],
        ]
        env = {"PGPASSWORD": settings["PASSWORD"] or ""}
        return subprocess.run(
            command, check=True, capture_output=True, text=True, env=env
        ).stdout
    text = "\n".join(connection.connection.iterdump())
    blobs = re.findall(r"X'([0-9A-Fa-f]+)'", text)
    decoded = "\n".join(bytes.fromhex(b).decode("latin-1") for b in blobs)
    return text + "\n" + decoded


def _traces(text: str) -> list[str]:
    lowered = text.casefold()
    return [value for value in SECRETS if value.casefold() in lowered]


@pytest.mark.django_db(transaction=True)
def test_a_full_dump_after_erasure_holds_no_trace_and_the_chain_verifies(
    tmp_path, settings
):
    settings.ERASURE_REPLAY_FILE = str(tmp_path / "erasures.jsonl")
    doctor = _doctor_with_a_past()
    assert set(_traces(_dump())) == set(SECRETS)  # the test can fail
    anchor = chain.anchor()
    out = io.StringIO()
    call_command(
        "erase_doctor", LICENSE, "--reason", f"{FIRST} left in 2019", stdout=out
    )
    assert f"Erased doctor #{doctor.pk}: personal data removed" in out.getvalue()
    assert _traces(_dump()) == []
    report = verify(anchor=anchor.hash)
    assert report.ok, [str(p) for p in report.problems]
    assert chain.anchor().count == anchor.count + 1


@pytest.mark.django_db
def test_what_remains_reads_erased_doctor_and_keeps_the_facts(tmp_path, settings):
    settings.ERASURE_REPLAY_FILE = str(tmp_path / "erasures.jsonl")
    doctor = _doctor_with_a_past()
    memberships = list(
        Membership.objects.filter(doctor=doctor).values_list(
            "department__code", "role", "joined_on"
        )
    )
    events_before = ActivityEvent.objects.filter(
        target_type="doctor", target_id=doctor.pk
    ).count()
    old_key = PersonalDataKey.objects.get(kind="doctor", object_id=doctor.pk).key
    user = UserFactory(username="dpo")
    result = erasure.erase_doctor(doctor, reason="Asked to be forgotten", user=user)

    doctor.refresh_from_db()
    assert str(doctor) == f"Dr Erased doctor #{doctor.pk}"
    assert (doctor.email, doctor.phone) == (f"erased-{doctor.pk}@erased.invalid", "")
    assert doctor.license_number == f"ERASED-{doctor.pk}"
    assert doctor.specialty == "cardiology"
    assert (
        list(
            Membership.objects.filter(doctor=doctor).values_list(
                "department__code", "role", "joined_on"
            )
        )
        == memberships
    )
    for row in Doctor.history.filter(id=doctor.pk):
        assert (row.first_name, row.last_name) == ("Erased doctor", f"#{doctor.pk}")
    events = ActivityEvent.objects.filter(target_type="doctor", target_id=doctor.pk)
    assert events.count() == events_before + 1
    assert {e.target_text for e in events} == {f"Erased doctor #{doctor.pk}"}
    added = events.get(verb="membership_added")  # the import wrote one bulk event
    assert added.department_text == "Neurology"
    assert added.changes["role"] == [None, "head"]
    rename = events.get(verb="updated")
    assert rename.changes == {"first_name": ["(erased)", "(erased)"]}
    erased = events.get(verb="erased")
    assert erased.actor_name == "dpo"
    change_set = erased.change_set
    assert (change_set.reason, change_set.actor_name) == (
        "Asked to be forgotten",
        "dpo",
    )
    assert change_set == result.change_set
    assert "Zebulon" not in ChangeSet.objects.get(description="rename").reason
    run = ImportRun.objects.get(file_name="staff.csv")
    assert run.status == ImportRun.Status.FAILED
    assert storage.load(run.pk) == b""
    assert LICENSE not in json.dumps(run.preview) and PHONE not in json.dumps(
        run.errors
    )
    # The old key is gone; the erasure's own event is sealed under a new one.
    new_key = PersonalDataKey.objects.get(kind="doctor", object_id=doctor.pk).key
    assert bytes(new_key) != bytes(old_key)
    assert Erasure.objects.get(doctor_id=doctor.pk).erased_by == user
    assert verify().ok


@pytest.mark.django_db
def test_erase_doctor_refuses_unknown_erased_and_reasonless(tmp_path, settings):
    settings.ERASURE_REPLAY_FILE = str(tmp_path / "erasures.jsonl")
    with acting_as(description="set-up"):
        doctor = DoctorFactory(license_number=LICENSE)
    with pytest.raises(CommandError, match="--reason"):
        call_command("erase_doctor", LICENSE)
    with pytest.raises(CommandError, match="Give the reason"):
        call_command("erase_doctor", LICENSE, "--reason", "  ")
    with pytest.raises(CommandError, match="No doctor has the license number NOPE"):
        call_command("erase_doctor", "NOPE", "--reason", "x")
    links = chain.anchor().count
    call_command("erase_doctor", LICENSE, "--reason", "left", stdout=io.StringIO())
    assert chain.anchor().count == links + 1
    with pytest.raises(CommandError, match="already erased"):
        call_command("erase_doctor", LICENSE, "--reason", "again")
    with pytest.raises(CommandError, match="already erased"):
        call_command("erase_doctor", f"ERASED-{doctor.pk}", "--reason", "again")
    assert chain.anchor().count == links + 1
    assert Erasure.objects.count() == 1


@pytest.mark.django_db
def test_undo_redo_and_revert_refuse_an_erased_doctor(tmp_path, settings):
    settings.ERASURE_REPLAY_FILE = str(tmp_path / "erasures.jsonl")
    doctor = _doctor_with_a_past()
    run = ImportRun.objects.filter(change_set__isnull=False).get()
    superuser = UserFactory(is_superuser=True)
    erasure.erase_doctor(doctor, reason="left")
    preview = undo.preview_undo(run)
    assert preview.refused
    assert f"Erased doctor #{doctor.pk}, whose personal data was erased" in (
        preview.summary()
    )
    # The refusal wins over the conflicts (the doctor was changed afterwards).
    assert preview.conflict_count == 0
    result = undo.undo_import(run, user=superuser, untouched_only=True)
    assert result.refused and result.change_set is None
    assert "personal data was erased" in result.summary()
    with pytest.raises(RevertError, match="personal data was erased"):
        plan_revert(doctor, datetime.datetime.now(datetime.UTC))


@pytest.mark.django_db
def test_cached_dashboard_pages_are_deleted(tmp_path, settings):
    settings.ERASURE_REPLAY_FILE = str(tmp_path / "erasures.jsonl")
    with acting_as(description="set-up"):
        doctor = DoctorFactory(license_number=LICENSE, first_name=FIRST)
    generation = dashboard.current_generation()
    cache.set(f"dashboard:{generation}:recent:all", [FIRST])
    cache.set(f"dashboard:{generation - 5}:recent:all", [FIRST])
    cache.set("unrelated", 1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.db.transaction.on_commit", lambda func, **kw: func())
        erasure.erase_doctor(doctor, reason="left")
    assert list(cache.iter_keys("dashboard:*:recent:*")) == []
    assert cache.get("unrelated") == 1


@pytest.mark.django_db(transaction=True)
def test_replay_erases_again_after_a_restore(tmp_path, settings):
    settings.ERASURE_REPLAY_FILE = str(tmp_path / "erasures.jsonl")
    with acting_as(description="set-up"):
        doctor = DoctorFactory(license_number=LICENSE, first_name=FIRST)
        DoctorFactory(license_number="KEEP-1")
    erasure.erase_doctor(doctor, reason="left")
    line = json.loads((tmp_path / "erasures.jsonl").read_text())
    assert line["doctor_id"] == doctor.pk and LICENSE not in json.dumps(line)
    # A restore from a backup taken before the erasure: the doctor is back
    # and the table has no erasure.
    Erasure.objects.all().delete()
    Doctor.objects.filter(pk=doctor.pk).update(license_number=LICENSE, first_name=FIRST)
    out = io.StringIO()
    call_command("replay_erasures", stdout=out)
    assert "1 erasure(s) replayed" in out.getvalue()
    doctor.refresh_from_db()
    assert doctor.first_name == "Erased doctor"
    assert Doctor.objects.filter(license_number="KEEP-1").exists()
    out = io.StringIO()
    call_command("replay_erasures", stdout=out)
    assert "0 erasure(s) replayed" in out.getvalue()
