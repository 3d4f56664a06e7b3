"""The journey of a department's year in periods: staff end a doctor's
membership on a past day and make another doctor head from next Monday; then
the department is read on three days and as the records stood before."""

import datetime

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils.formats import date_format
from playwright.sync_api import expect

from doctors import period_changes, periods
from doctors.ledger import guard
from doctors.models import Department, Doctor, Membership
from tests.browser.pages import changelist_rows, expect_message
from tests.browser.test_memberships import run_action
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 900}


def _next_monday(day: datetime.date) -> datetime.date:
    return day + datetime.timedelta(days=(7 - day.weekday()) or 7)


def _recorded_two_days_ago() -> None:
    """The set-up as if entered two days ago, so "as the records stood
    yesterday" is the department before today's changes."""
    two_days = datetime.timedelta(days=2)
    with guard.sanctioned():
        for model in (Membership, Doctor, Department):
            model.history.update(history_date=F("history_date") - two_days)


def _ask(page, department, day: datetime.date, recorded_on=None) -> None:
    page.goto(reverse("admin:doctors_department_members_on", args=[department.pk]))
    page.get_by_label("Who was a member on").fill(day.isoformat())
    if recorded_on is not None:
        page.get_by_label("As the records stood on").fill(recorded_on.isoformat())
    with page.expect_navigation():
        page.get_by_role("button", name="Show members").click()


def _members(page) -> list[str]:
    rows = page.locator("#members_on_date tbody tr")
    return sorted(
        " ".join(text.split()) for text in rows.all_inner_texts() if text.strip()
    )


def test_end_a_membership_on_a_past_day_and_hand_over_from_next_monday(
    page_as, superuser
):
    today = periods.today()
    last_day = today.replace(day=1) - periods.ONE_DAY  # end of last month
    monday = _next_monday(today)
    cardiology = DepartmentFactory(code="CARD", name="Cardiology")
    for first, last, role, since in [
        ("Ann", "Lee", Membership.Role.MEMBER, datetime.date(2020, 1, 1)),
        ("Bo", "Sun", Membership.Role.HEAD, datetime.date(2019, 1, 1)),
        ("Cy", "Park", Membership.Role.MEMBER, datetime.date(2021, 1, 1)),
    ]:
        period_changes.join(
            DoctorFactory(first_name=first, last_name=last),
            cardiology,
            first_day=since,
            role=role,
        )
    _recorded_two_days_ago()

    page = page_as(superuser)
    page.set_viewport_size(LAPTOP)
    page.goto(
        reverse("admin:doctors_membership_changelist") + f"?department={cardiology.pk}"
    )
    # Ann Lee's last day was the end of last month.
    run_action(page, "Lee, Ann", "Remove selected doctors from the department")
    page.get_by_label("Last day as a member").fill(last_day.isoformat())
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, remove this doctor").click()
    expect_message(page, f"left on {date_format(last_day)}")
    expect(changelist_rows(page).filter(has_text="Lee, Ann")).to_have_count(0)

    # Cy Park heads the department from next Monday; Bo Sun is a member then.
    row = changelist_rows(page).filter(has_text="Park, Cy")
    row.locator("input.action-select").check()
    page.locator("input[name=effective_on]").first.fill(monday.isoformat())
    page.locator("select[name=action]").first.select_option(
        label="Make head from the day chosen (the head becomes a member)"
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Run").first.click()
    expect_message(page, f"Dr Cy Park head from {date_format(monday)}")

    # Three days in the clinic's calendar.
    _ask(page, cardiology, last_day)
    expect(page.locator("#members-count")).to_contain_text("3 members on")
    members = _members(page)
    assert any("Ann Lee" in m and date_format(last_day) in m for m in members)
    assert any("Bo Sun" in m and "Head of department" in m for m in members)

    _ask(page, cardiology, today)
    expect(page.locator("#members-count")).to_contain_text("2 members on")
    assert not any("Ann Lee" in m for m in _members(page))

    _ask(page, cardiology, monday)
    expect(page.locator("#members-count")).to_contain_text("2 members on")
    members = _members(page)
    assert any("Cy Park" in m and "Head of department" in m for m in members)
    assert any("Bo Sun" in m and "Head of department" not in m for m in members)

    # Next Monday as the records stood yesterday, before both changes: the
    # three of them, Bo Sun still head.
    _ask(page, cardiology, monday, recorded_on=today - periods.ONE_DAY)
    expect(page.locator("h1")).to_contain_text("as the records stood on")
    expect(page.locator("#members-count")).to_contain_text("3 members on")
    members = _members(page)
    assert any("Bo Sun" in m and "Head of department" in m for m in members)
    assert any("Ann Lee" in m for m in members)
