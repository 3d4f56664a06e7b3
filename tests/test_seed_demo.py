import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from doctors.models import Department, Doctor, Membership
from doctors.roles import CLINIC_STAFF, MANAGERS

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
    per_doctor = [d.memberships.count() for d in Doctor.objects.all()]
    assert min(per_doctor) >= 1 and max(per_doctor) <= 3
    # Exactly one primary department per doctor, one head per department.
    assert Membership.objects.filter(is_primary=True).count() == 60
    for department in Department.objects.all():
        assert department.memberships.filter(role="head").count() == 1
    # Every row has its creation in history.
    assert Doctor.history.filter(history_type="+").count() == 60
    assert (
        Membership.history.filter(history_type="+").count()
        == Membership.objects.count()
    )
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
