"""manage.py members: a department's members on a date, as CSV, in the
clinic's calendar or as the records stood at an instant."""

import datetime
import io
import os
import subprocess
import sys
import zoneinfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from doctors import period_changes
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


HEADER = "license_number,name,role,primary,joined_on,left_on"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_today_by_default(cardiology):
    today = timezone.localdate().isoformat()
    assert members("CARD") == [
        HEADER,
        f"L-1,Ada Byron,head,false,{today},",
        f"L-2,Bob Abel,member,true,{today},",
    ]


def test_valid_time_sees_past_and_future_periods_whenever_recorded():
    """Periods entered today answer for the days they cover, past or future;
    a doctor who left is listed with the last day, until that day."""
    card = DepartmentFactory(code="CARD")
    ada, bob, cy = (
        DoctorFactory(license_number=f"L-{n}", first_name=n, last_name="Doe")
        for n in ("A", "B", "C")
    )
    period_changes.join(
        ada,
        card,
        first_day=datetime.date(2016, 4, 1),
        last_day=datetime.date(2025, 3, 31),
    )
    period_changes.join(bob, card, first_day=datetime.date(2024, 1, 1))
    period_changes.join(cy, card, first_day=datetime.date(2099, 1, 1))
    assert members("CARD", "--on", "2025-01-01") == [
        HEADER,
        "L-A,A Doe,member,false,2016-04-01,2025-03-31",
        "L-B,B Doe,member,false,2024-01-01,",
    ]
    assert members("CARD", "--on", "2025-04-01")[1:] == [
        "L-B,B Doe,member,false,2024-01-01,"
    ]
    assert members("CARD", "--on", "2099-01-01")[1:] == [
        "L-B,B Doe,member,false,2024-01-01,",
        "L-C,C Doe,member,false,2099-01-01,",
    ]


def _recorded_at(moment: datetime.datetime) -> None:
    """Date the history rows written so far at `moment`."""
    Membership.history.filter(history_date__gt=moment).update(history_date=moment)


def test_a_correction_recorded_later_leaves_the_earlier_answer_alone(settings):
    """As recorded on an instant: everything recorded up to and including it,
    nothing after; a date means the end of that day, a date-time without an
    offset is clinic time."""
    settings.TIME_ZONE = "Europe/Berlin"
    card = DepartmentFactory(code="CARD")
    ada = DoctorFactory(license_number="L-1", first_name="Ada", last_name="Byron")
    period = period_changes.join(ada, card, first_day=datetime.date(2025, 2, 1))
    entered = datetime.datetime(2025, 2, 3, 9, 0, tzinfo=BERLIN)
    _recorded_at(entered)
    # The first day was wrong: she joined on 1 March. Corrected on 5 March.
    period_changes.correct(period, joined_on=datetime.date(2025, 3, 1))
    corrected = datetime.datetime(2025, 3, 5, 10, 0, tzinfo=BERLIN)
    Membership.history.filter(history_type="~").update(history_date=corrected)

    def on_feb_15(*recorded):
        return members("CARD", "--on", "2025-02-15", *recorded)[1:]

    was = ["L-1,Ada Byron,member,false,2025-02-01,"]
    assert on_feb_15() == []
    assert on_feb_15("--as-recorded-on", "2025-03-04") == was
    assert on_feb_15("--as-recorded-on", "2025-03-05T09:59:59") == was
    # 10:00 in Berlin is 09:00 UTC: the correction was recorded by then.
    assert on_feb_15("--as-recorded-on", "2025-03-05T10:00") == []
    assert on_feb_15("--as-recorded-on", "2025-03-05T09:00:00+00:00") == []
    assert on_feb_15("--as-recorded-on", "2025-03-05T08:59:59Z") == was
    assert on_feb_15("--as-recorded-on", "2025-03-05") == []
    # Before anything was recorded, nothing was known.
    assert on_feb_15("--as-recorded-on", "2025-02-02") == []
    assert members("CARD", "--on", "2025-03-01", "--as-recorded-on", "2025-03-04")[
        1:
    ] == ["L-1,Ada Byron,member,false,2025-02-01,"]


def test_on_a_past_date_and_into_a_file(cardiology, tmp_path):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    assert members("CARD", "--on", yesterday.isoformat()) == [HEADER]
    path = tmp_path / "card.csv"
    out = members(
        "CARD", "--on", timezone.localdate().isoformat(), "--output", str(path)
    )
    assert out == [f"2 members of CARD on {timezone.localdate()} written to {path}."]
    today = timezone.localdate().isoformat()
    assert path.read_text(encoding="utf-8-sig").splitlines() == [
        HEADER,
        f"L-1,Ada Byron,head,false,{today},",
        f"L-2,Bob Abel,member,true,{today},",
    ]
    out = members("CARD", "--as-recorded-on", "2024-01-01", "--output", str(path))
    assert out == [
        f"0 members of CARD on {timezone.localdate()} as recorded on "
        f"1 Jan 2024, 23:59 written to {path}."
    ]


def test_a_deleted_department_still_answers(cardiology):
    """From the records as they stood just before it was deleted."""
    today = timezone.localdate().isoformat()
    cardiology.delete()
    assert members("CARD", "--on", today)[1:] == [
        f"L-1,Ada Byron,head,false,{today},",
        f"L-2,Bob Abel,member,true,{today},",
    ]
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    assert members("CARD", "--on", yesterday) == [HEADER]
    now = timezone.now().isoformat()
    assert members("CARD", "--as-recorded-on", now) == [HEADER]


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
        (
            ["CARD", "--as-recorded-on", "yesterday"],
            "--as-recorded-on: 'yesterday' is not a date or a date-time; write it "
            r"as YYYY-MM-DD or YYYY-MM-DD HH:MM \(clinic time\)\.$",
        ),
        (["CARD", "--as-recorded-on", "2025-02-30"], "is not a date or a date-time"),
        (["CARD", "--as-recorded-on", "2025-03-01T25:00"], "is not a date or a"),
        (
            ["CARD", "--as-recorded-on", "9999-12-31T23:59+14:00"],
            "--as-recorded-on: 31 December 9999 is outside the dates",
        ),
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
