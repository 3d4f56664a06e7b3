"""manage.py members: a department's members on a date, as CSV."""

import datetime
import io
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from doctors.models import Membership
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db


def members(*args) -> list[str]:
    out = io.StringIO()
    call_command("members", *args, stdout=out)
    return out.getvalue().lstrip("\ufeff").splitlines()


@pytest.fixture
def cardiology():
    card = DepartmentFactory(code="CARD", name="Cardiology")
    ada = DoctorFactory(license_number="L-1", first_name="Ada", last_name="Byron")
    bob = DoctorFactory(license_number="L-2", first_name="Bob", last_name="Abel")
    card.doctors.add(ada, through_defaults={"role": Membership.Role.HEAD})
    card.doctors.add(bob, through_defaults={"is_primary": True})
    return card


def test_today_by_default(cardiology):
    assert members("CARD") == [
        "license_number,name,role,primary",
        "L-1,Ada Byron,head,false",
        "L-2,Bob Abel,member,true",
    ]


def test_on_a_past_date_and_into_a_file(cardiology, tmp_path):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    assert members("CARD", "--on", yesterday.isoformat()) == [
        "license_number,name,role,primary"
    ]
    path = tmp_path / "card.csv"
    out = members(
        "CARD", "--on", timezone.localdate().isoformat(), "--output", str(path)
    )
    assert out == [f"2 members of CARD on {timezone.localdate()} written to {path}."]
    assert path.read_text(encoding="utf-8-sig").splitlines()[1:] == [
        "L-1,Ada Byron,head,false",
        "L-2,Bob Abel,member,true",
    ]


def test_a_deleted_department_still_answers(cardiology):
    today = timezone.localdate().isoformat()
    cardiology.delete()
    assert members("CARD", "--on", today) == ["license_number,name,role,primary"]
    Membership.history.filter(history_type="+").update(
        history_date=timezone.now() - datetime.timedelta(days=2)
    )
    two_days_ago = (timezone.localdate() - datetime.timedelta(days=2)).isoformat()
    assert len(members("CARD", "--on", two_days_ago)) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPE"], "No department with the code 'NOPE'."),
        (["CARD", "--on", "1 March"], "--on: '1 March' is not a date"),
        (["CARD", "--output", "/nonexistent/dir/x.csv"], "Cannot write"),
        (
            ["CARD", "--on", "9999-12-31"],
            "--on: 31 December 9999 is outside the dates the clinic accepts "
            r"\(1 January 1900 to 31 December 2200\)",
        ),
        (["CARD", "--on", "1899-12-31"], "outside the dates the clinic accepts"),
    ],
)
def test_bad_input_says_what_is_wrong(cardiology, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("members", *args, stdout=io.StringIO(), stderr=io.StringIO())


def test_a_far_date_is_one_line_and_a_non_zero_exit(tmp_path):
    """Run as staff run it: one line on standard error, no traceback (the date
    is refused before the database is read, so an empty one will do)."""
    from tests.processes import ROOT

    result = subprocess.run(
        [sys.executable, "manage.py", "members", "CARD", "--on", "9999-12-31"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "clinic.test_settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line == (
        "CommandError: --on: 31 December 9999 is outside the dates the clinic "
        "accepts (1 January 1900 to 31 December 2200)."
    )
    assert result.stdout == ""
