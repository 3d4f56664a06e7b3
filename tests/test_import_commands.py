"""import_doctors, import_departments and export_doctors, and their progress output."""

import io
import os

import pytest
from django.core.management import CommandError, call_command

from doctors.models import ActivityEvent, Department, Doctor, ImportRun
from doctors.runs.progress import TerminalProgress
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    MembershipFactory,
    UserFactory,
)
from tests.test_importing import csv_bytes, snapshot

pytestmark = pytest.mark.django_db


def command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def card():
    return DepartmentFactory(code="CARD", name="Cardiology")


def test_import_doctors_prints_progress_and_summary(tmp_path, card):
    path = tmp_path / "doctors.csv"
    path.write_bytes(
        csv_bytes(*(f"L-{n},A,B,a{n}@x.test,,cardiology,CARD," for n in range(2500)))
    )
    user = UserFactory(username="importer")
    out, err = command("import_doctors", str(path), "--user", "importer")
    assert err == ""
    lines = out.splitlines()
    # Not a terminal: plain lines, one per phase start and end at least.
    assert lines[0].startswith("Checking: 1,000 rows")
    assert "Checking: 2,500 / 2,500 rows (100%)" in lines
    assert "Writing: 0 / 2,500 rows (0%)" in lines
    assert "Writing: 2,500 / 2,500 rows (100%)" in lines
    assert lines[-1] == (
        "Import of doctors.csv: 2500 rows; created 2500, updated 0, 0 unchanged; "
        "memberships: 2500 added, 0 changed, 0 removed."
    )
    assert Doctor.objects.count() == 2500
    event = ActivityEvent.objects.get(verb="imported")
    assert (event.actor, event.source) == (user, "import")
    run = ImportRun.objects.get()
    assert (run.source, run.user, run.status) == ("command", user, "succeeded")


def test_import_with_problems_exits_non_zero_and_lists_them(tmp_path, card):
    path = tmp_path / "bad.csv"
    path.write_bytes(
        csv_bytes("L-1,A,B,bad-email,,cardiology,CARD,", "L-2,A,B,b@x.test,,x,,")
    )
    before = snapshot()
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 problems found; nothing was imported"):
        call_command("import_doctors", str(path), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        f"{path}: Row 2, column email: Enter a valid email address.",
        f"{path}: Row 3, column specialty: unknown specialty 'x' (use a name such as "
        "Cardiology or its code such as cardiology)",
    ]
    assert snapshot() == before


def test_dry_run_shows_changes_and_writes_nothing(tmp_path, card):
    DoctorFactory(license_number="L-1", email="a@x.test", first_name="Old")
    path = tmp_path / "doctors.csv"
    path.write_bytes(csv_bytes("L-1,New,B,a@x.test,,cardiology,CARD,"))
    before = snapshot()
    out, _ = command("import_doctors", str(path), "--dry-run")
    assert "  row 2 L-1: updated (first_name: 'Old' -> 'New';" in out
    assert "Dry run of doctors.csv: 1 rows; would create 0, would update 1" in out
    assert snapshot() == before


def test_encoding_option(tmp_path, card):
    path = tmp_path / "latin.csv"
    path.write_bytes(csv_bytes("L-1,Zoë,B,z@x.test,,cardiology,,", encoding="latin-1"))
    with pytest.raises(CommandError, match="Unknown encoding 'klingon'"):
        command("import_doctors", str(path), "--encoding", "klingon")
    command("import_doctors", str(path), "--encoding", "latin-1")
    assert Doctor.objects.get().first_name == "Zoë"


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*nope.csv: No such file"):
        command("import_doctors", str(tmp_path / "nope.csv"))


def test_import_departments(tmp_path):
    path = tmp_path / "departments.csv"
    path.write_bytes(
        csv_bytes("ICU,Intensive care,,yes", header="code,name,description,is_active")
    )
    out, _ = command("import_departments", str(path))
    assert "created 1" in out
    assert Department.objects.get().name == "Intensive care"


def test_export_then_import_round_trip(tmp_path, card):
    neur = DepartmentFactory(code="NEUR")
    tricky = DoctorFactory(
        first_name="=cmd|' /C calc'!A0",
        last_name='O\'Brien, "Jr"',
        phone="+1 555 0100",
        is_active=False,
    )
    MembershipFactory(doctor=tricky, department=neur, is_primary=True)
    MembershipFactory(doctor=tricky, department=card, role="head")
    plain = DoctorFactory(specialty="oncology")
    MembershipFactory(doctor=plain, department=neur)
    DoctorFactory(last_name="@alone")
    path = tmp_path / "export.csv"
    out, _ = command("export_doctors", "--output", str(path))
    assert out.strip() == f"Exported 3 doctors to {path}."
    text = path.read_text(encoding="utf-8-sig")
    assert "'=cmd" in text and "'+1 555 0100" in text and "'@alone" in text
    before = snapshot()
    out, _ = command("import_doctors", str(path))
    assert "created 0, updated 0, 3 unchanged" in out
    assert snapshot() == before


def test_export_to_standard_output(card):
    DoctorFactory(license_number="L-1")
    out, err = command("export_doctors")
    assert out.splitlines()[0].lstrip("\ufeff").startswith("license_number,")
    assert out.splitlines()[1].startswith("L-1,")
    assert err.strip() == "Exported 1 doctors."


class TestTerminalProgress:
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def test_a_terminal_gets_one_redrawn_bar_per_phase(self):
        from django.core.management.base import OutputWrapper

        stream = self.Terminal()
        progress = TerminalProgress(OutputWrapper(stream))
        progress("checking", 1000, None)
        progress("checking", 2000, 2000)
        progress("writing", 1000, 2000)
        progress("writing", 2000, 2000)
        text = stream.getvalue()
        assert text.count("\n") == 2
        assert "\rChecking  1,000 rows\rChecking  [####" in text
        assert "\rWriting   [###############...............] 1,000 / 2,000" in text

    def test_a_log_gets_plain_lines(self):
        from django.core.management.base import OutputWrapper

        stream = io.StringIO()
        progress = TerminalProgress(OutputWrapper(stream))
        for done in range(0, 10_001, 1000):
            progress("writing", done, 10_000)
        lines = stream.getvalue().splitlines()
        assert "\r" not in stream.getvalue()
        assert lines == [
            "Writing: 0 / 10,000 rows (0%)",
            "Writing: 10,000 / 10,000 rows (100%)",
        ]


@pytest.mark.django_db(transaction=True)
def test_export_to_a_reader_that_stops_early_is_not_an_error():
    """`export_doctors | head -1` ends quietly, without a traceback."""
    import subprocess
    import sys

    from django.contrib.auth.models import Group

    from doctors.demo import seed_demo
    from doctors.roles import ROLE_PERMISSIONS
    from tests.processes import ROOT, test_database_url

    # An earlier transactional test's flush may have removed the role groups.
    for name in ROLE_PERMISSIONS:
        Group.objects.get_or_create(name=name)
    seed_demo(doctors=2000, departments=3, password="x")  # well over a pipe buffer
    export = subprocess.Popen(
        [sys.executable, "manage.py", "export_doctors"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "clinic.test_settings",
            "DATABASE_URL": test_database_url(),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert export.stdout.readline().startswith(b"\xef\xbb\xbflicense_number,")
    export.stdout.close()
    _, errors = export.communicate(timeout=60)
    assert export.returncode == 0
    assert b"Traceback" not in errors
