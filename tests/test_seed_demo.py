import datetime
import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from doctors.dashboard import blocks
from doctors.dashboard.filters import DashboardFilters
from doctors.models import (
    ActivityEvent,
    ChangeSet,
    Department,
    Doctor,
    ImportRun,
    Membership,
)
from doctors.roles import CLINIC_STAFF, MANAGERS
from doctors.timetravel import moments

pytestmark = pytest.mark.django_db


def seed(*args, **env) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_seed_creates_realistic_data_and_demo_users(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-123")
    output = seed("--doctors", "60", "--departments", "5")
    assert Department.objects.count() == 5
    assert Doctor.objects.count() == 60
    per_doctor = [d.departments.count() for d in Doctor.objects.all()]
    assert min(per_doctor) >= 1 and max(per_doctor) <= 3
    # Today: exactly one primary department per doctor, one head per department.
    current = Membership.objects.current()
    assert current.filter(is_primary=True).count() == 60
    for department in Department.objects.all():
        assert current.filter(department=department, role="head").count() == 1
    # Every row has its creation in history.
    assert Doctor.history.filter(history_type="+").count() == 60
    created = set(
        Membership.history.filter(history_type="+").values_list("id", flat=True)
    )
    assert set(Membership.objects.values_list("pk", flat=True)) <= created
    User = get_user_model()
    assert User.objects.get(username="admin").is_superuser
    assert User.objects.get(username="staff").groups.get().name == CLINIC_STAFF
    assert User.objects.get(username="manager").groups.get().name == MANAGERS
    assert authenticate(username="staff", password="demo-pass-123")
    assert "DEMO_PASSWORD" in output
    assert "demo-pass-123" not in output


def test_seed_twice_duplicates_nothing():
    first = seed("--doctors", "30", "--departments", "4")
    counts = (
        Doctor.objects.count(),
        Membership.objects.count(),
        Department.objects.count(),
    )
    second = seed("--doctors", "30", "--departments", "4")
    assert counts == (
        Doctor.objects.count(),
        Membership.objects.count(),
        Department.objects.count(),
    )
    assert "Their password is" in first
    assert "already exist; their passwords are unchanged" in second


def test_seed_is_reproducible_and_grows_without_changing_existing_rows():
    seed("--doctors", "10", "--departments", "3")
    before = list(
        Doctor.objects.order_by("license_number").values_list("license_number", "email")
    )
    seed("--doctors", "25", "--departments", "3")
    after = list(
        Doctor.objects.order_by("license_number").values_list("license_number", "email")
    )
    assert after[:10] == before
    assert len(after) == 25


def test_generated_password_is_printed_once_and_works(monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    output = seed("--doctors", "0", "--departments", "1")
    password = output.split("Their password is ")[1].split(" ")[0]
    assert authenticate(username="admin", password=password)


def test_negative_counts_are_refused():
    with pytest.raises(CommandError, match="must not be negative"):
        seed("--doctors", "-1")


def test_a_first_run_tells_a_year_of_history():
    """Joins, leaves, head handovers, renames, two imports and an undo, each a
    change-set with its person and reason, dated across the past year; the
    dashboard's default period and a past date both have something to show."""
    seed("--doctors", "120", "--departments", "8")
    today = timezone.localdate()
    change_sets = ChangeSet.objects.exclude(description__startswith="Demo clinic")
    days = {(today - c.started_at.date()).days for c in change_sets}
    assert min(days) <= 2 and max(days) >= 300 and len(days) >= 20
    assert ChangeSet.objects.filter(
        started_at__date__lte=today - datetime.timedelta(days=360)
    ).exists()
    verbs = set(ActivityEvent.objects.values_list("verb", flat=True))
    assert {"updated", "imported", "undone"} <= verbs
    assert len({verb for verb in verbs if verb.startswith("membership")}) >= 2
    assert ImportRun.objects.filter(status="succeeded").count() == 2
    undone = ChangeSet.objects.get(undoes__isnull=False)
    assert undone.reason and undone.actor_name == "admin"
    assert all(c.actor_name for c in change_sets)
    # Every step by hand says why; the two imports are named after their file.
    assert all(c.reason for c in change_sets.exclude(source="import"))
    # The rules still hold after the year, today and on every day it tells of.
    current = Membership.objects.current()
    assert current.filter(is_primary=True).count() == 120
    for department in Department.objects.all():
        assert current.filter(department=department, role="head").count() == 1
    for days_back in range(-100, 400, 7):
        day = today - datetime.timedelta(days=days_back)
        heads = Membership.objects.covering(day).filter(role="head")
        assert heads.count() == heads.values("department").distinct().count()
        primary = Membership.objects.covering(day).filter(is_primary=True)
        assert primary.count() == primary.values("doctor").distinct().count()
    # The dashboard's last 30 days, and the members of a department half a year ago.
    figures = blocks.figures(DashboardFilters.last_days(30))
    assert figures["changes"] >= 5
    half_a_year_ago = today - datetime.timedelta(days=180)
    department = Department.objects.order_by("pk").first()
    assert moments.department_members_on(department, half_a_year_ago)


def test_a_first_run_tells_the_periods_of_a_clinic():
    """Past leavers and rejoins, head hand-overs and primary moves from a
    date, corrections, joins from a day still to come and a planned leave:
    each a period, told through the product's own roads."""
    seed("--doctors", "120", "--departments", "8")
    today = timezone.localdate()
    periods = Membership.objects.order_by("doctor", "department", "joined_on")
    by_pair = {}
    for period in periods:
        by_pair.setdefault((period.doctor_id, period.department_id), []).append(period)
    # Left a department (years ago, or during the year).
    assert periods.filter(left_on__lt=today - datetime.timedelta(days=365)).count() > 5
    assert periods.filter(
        left_on__gte=today - datetime.timedelta(days=365), left_on__lt=today
    ).exists()
    # Came back to a department after a gap.
    rejoined = [
        pair
        for pair, rows in by_pair.items()
        if any(
            later.joined_on > earlier.left_on + datetime.timedelta(days=1)
            for earlier, later in zip(rows, rows[1:], strict=False)
        )
    ]
    assert len(rejoined) > 3
    # Heads handed over from a date: the old head's period ends the day before
    # the new head's starts, in the same department.
    heads = Membership.objects.filter(role="head").order_by("department", "joined_on")
    handovers = [
        (one, other)
        for one, other in zip(heads, heads[1:], strict=False)
        if one.department_id == other.department_id
        and one.left_on == other.joined_on - datetime.timedelta(days=1)
        and one.doctor_id != other.doctor_id
    ]
    assert len(handovers) >= 2
    # The head before a hand-over stays on as a member from that day.
    one, other = handovers[0]
    assert (
        Membership.objects.covering(other.joined_on)
        .filter(doctor_id=one.doctor_id, department_id=one.department_id, role="member")
        .exists()
    )
    # A primary department moved from a date: two primary periods of one doctor.
    primary = Membership.objects.filter(is_primary=True)
    assert primary.count() > primary.values("doctor").distinct().count()
    # Corrections rewrote a first day: a period recorded with two first days.
    corrected = {
        pk
        for pk, count in Membership.history.values_list("id")
        .annotate(days=Count("joined_on", distinct=True))
        .values_list("id", "days")
        if count > 1
    }
    assert corrected
    # Planned: joins from a day to come (one called off again), a leave ahead.
    assert periods.filter(joined_on__gt=today).count() >= 1
    assert Membership.history.filter(joined_on__gt=today, history_type="-").exists()
    assert periods.filter(left_on__gt=today).exists()
    # Who was where differs by date.
    department = Department.objects.order_by("pk").first()
    year_ago = today - datetime.timedelta(days=364)
    assert {
        m.doctor_id for m in moments.department_members_on(department, year_ago)
    } != {m.doctor_id for m in moments.department_members_on(department, today)}


def test_a_second_run_adds_no_history():
    seed("--doctors", "30", "--departments", "4")
    change_sets = ChangeSet.objects.count()
    seed("--doctors", "40", "--departments", "4")
    assert ChangeSet.objects.count() == change_sets + 1  # the ten new doctors
