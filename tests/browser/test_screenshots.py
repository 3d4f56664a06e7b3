"""The README's screenshots, made from the demo clinic (a year of history) at
1366x900. Every run makes them (so a page that stops rendering fails here);
with UPDATE_SCREENSHOTS=1 they are written to docs/screenshots/ for the README
(commit them), otherwise to var/test-artifacts/screenshots/, so an ordinary
test run leaves the work tree clean."""

import datetime
import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from doctors.demo import seed_demo
from doctors.models import ChangeSet, Department, Doctor, Membership

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else ROOT / "var" / "test-artifacts" / "screenshots"
)
LAPTOP = {"width": 1366, "height": 900}


@pytest.fixture
def demo_clinic():
    seed_demo(doctors=200, departments=12, password=None)


def shoot(page, url: str, name: str) -> Path:
    page.set_viewport_size(LAPTOP)
    response = page.goto(url)
    assert response.status == 200, url
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path)
    return path


def test_the_readme_screenshots(page_as, demo_clinic):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The doctor whose memberships changed most: the fullest timeline.
    busy = (
        Membership.history.values("doctor_id")
        .annotate(changes=Count("history_id"))
        .order_by("-changes", "doctor_id")
        .first()
    )
    doctor = Doctor.objects.get(pk=busy["doctor_id"])
    department = Department.objects.order_by("name").first()
    change_set = ChangeSet.objects.filter(source="import").first()
    User = get_user_model()
    manager_page = page_as(User.objects.get(username="manager"))
    written = [shoot(manager_page, reverse("admin:dashboard"), "dashboard")]
    page = page_as(User.objects.get(username="admin"))
    for url, name in [
        (reverse("admin:doctors_activityevent_changelist"), "feed"),
        (reverse("admin:doctors_doctor_changelist"), "doctors"),
        (reverse("admin:doctors_doctor_history", args=[doctor.pk]), "history"),
        (
            reverse("admin:doctors_department_members_on", args=[department.pk])
            + f"?on={timezone.localdate() - datetime.timedelta(days=200)}",
            "members-on-a-date",
        ),
        (reverse("admin:doctors_changeset_change", args=[change_set.pk]), "change-set"),
    ]:
        written.append(shoot(page, url, name))
    for path in written:
        assert 10_000 < path.stat().st_size < 400_000, path
