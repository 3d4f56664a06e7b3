"""Journeys through time travel: reverting a doctor to an earlier version of
its departments, and who was in a department on a date."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from doctors import period_changes
from doctors.context import acting_as
from doctors.models import Department, Membership
from tests.browser.accessibility import assert_accessible
from tests.browser.pages import ChangeForm, expect_message, open_admin
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.browser


def change_departments(page, doctor, leave: str, join: str, search: str) -> None:
    """On the doctor's page: take `leave` out, add `join` as primary, save."""
    open_admin(page, "admin:doctors_doctor_change", doctor.pk)
    form = ChangeForm(page)
    form.inline_row(leave).mark_for_deletion()
    row = form.add_inline_row("Add another department membership")
    row.pick("department", search, join)
    row.check("is_primary")
    form.save()
    expect_message(page, f"Dr Ada Byron: added to {join}")


def test_staff_revert_a_doctor_whose_departments_changed_twice(page_as, clinic_staff):
    """Ada's departments were changed twice. On her History page the timeline
    lists each change with who made it; the first version shows the departments
    of its time, not today's. Staff revert to just after the first change, see
    in the preview what will be restored and removed, confirm with a reason,
    and find Ada's page with the departments of that version."""
    DepartmentFactory(code="CARD", name="Cardiology")
    DepartmentFactory(code="NEUR", name="Neurology")
    DepartmentFactory(code="ONC", name="Oncology")
    with acting_as(clinic_staff, source="admin"):
        ada = DoctorFactory(first_name="Ada", last_name="Byron")
        ada.departments.add(
            Department.objects.get(code="CARD"),
            through_defaults={"is_primary": True},
        )
    page = page_as(clinic_staff)
    change_departments(page, ada, "Cardiology", "Neurology", "Neu")
    change_departments(page, ada, "Neurology", "Oncology", "Onc")

    # The History page: the periods, newest first, each with its records
    # (entered, removed) and who made them.
    open_admin(page, "admin:doctors_doctor_change", ada.pk)
    with page.expect_navigation():
        page.get_by_role("link", name="History").click()
    periods = page.locator("#membership_timeline tbody")
    expect(periods).to_have_count(3)
    expect(periods.first.locator("tr.period-heading")).to_contain_text("Oncology")
    timeline = page.locator("#membership_timeline tr.record")
    expect(timeline).to_have_count(5)
    expect(timeline.first).to_contain_text("Recorded")
    expect(timeline.filter(has_text=clinic_staff.username)).to_have_count(5)
    assert_accessible(page)

    # The first version shows the departments of its time.
    with page.expect_navigation():
        page.locator("#change-history a").first.click()
    then = page.locator("#memberships_then tbody tr")
    expect(then).to_have_count(1)
    expect(then.first).to_contain_text("Cardiology")
    page.go_back()

    # Revert to just after the first change: Neurology, primary.
    joined_neurology = periods.filter(has_text="Neurology").locator(
        "tr.timeline-recorded"
    )
    with page.expect_navigation():
        joined_neurology.get_by_role("link", name="Revert to here").click()
    expect(page.locator("#revert-memberships tr.step-add")).to_contain_text("Neurology")
    expect(page.locator("#revert-memberships tr.step-remove")).to_contain_text(
        "Oncology"
    )
    expect(page.locator("#revert-conflicts")).to_have_count(0)
    assert_accessible(page)
    page.get_by_label("Reason for this revert").fill("Oncology was a mistake")
    with page.expect_navigation():
        page.get_by_role("button", name="Revert").click()

    expect(page.locator("ul.messagelist li").first).to_contain_text(
        "Dr Ada Byron reverted to"
    )
    rows = page.locator("tr.form-row.has_original")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.field-department")).to_contain_text("Neurology")
    expect(rows.first.locator("td.field-is_primary input")).to_be_checked()
    assert list(
        Membership.objects.filter(doctor=ada).values_list(
            "department__name", "is_primary"
        )
    ) == [("Neurology", True)]

    # The revert is in the timeline too, with its reason.
    with page.expect_navigation():
        page.get_by_role("link", name="History").click()
    expect(timeline.filter(has_text="Oncology was a mistake").first).to_be_visible()


def test_a_manager_reads_who_was_in_a_department(page_as, manager):
    """From the department's page, a manager opens "Members on a date" and
    reads the members with their role and days, on a past day and as the
    records stood before the period was entered."""
    card = DepartmentFactory(code="CARD", name="Cardiology")
    period_changes.join(
        DoctorFactory(first_name="Ada", last_name="Byron", license_number="L-1"),
        card,
        first_day=datetime.date(2016, 4, 1),
        role=Membership.Role.HEAD,
    )
    page = page_as(manager)
    open_admin(page, "admin:doctors_department_change", card.pk)
    with page.expect_navigation():
        page.get_by_role("link", name="Members on a date").click()
    expect(page.locator("h1")).to_contain_text("Who is in Cardiology on")
    expect(page.locator("#members-count")).to_contain_text("1 member on")
    row = page.locator("#members_on_date tbody tr")
    expect(row).to_have_count(1)
    expect(row.first).to_contain_text("Ada Byron")
    expect(row.first).to_contain_text("Head of department")
    expect(row.first).to_contain_text("1 Apr 2016")
    assert_accessible(page)

    page.get_by_label("Who was a member on").fill("2025-01-01")
    with page.expect_navigation():
        page.get_by_role("button", name="Show members").click()
    expect(page.locator("h1")).to_have_text("Who was in Cardiology on 1 January 2025")
    expect(page.locator("#members-count")).to_contain_text("1 member on")

    page.get_by_label("Who was a member on").fill("2001-01-01")
    with page.expect_navigation():
        page.get_by_role("button", name="Show members").click()
    expect(page.locator("#members-count")).to_contain_text("0 members on")

    # As the records stood the day before the period was entered: nobody.
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    page.get_by_label("Who was a member on").fill("2025-01-01")
    page.get_by_label("As the records stood on").fill(yesterday.isoformat())
    with page.expect_navigation():
        page.get_by_role("button", name="Show members").click()
    expect(page.locator("h1")).to_contain_text("as the records stood on")
    expect(page.locator("#members-count")).to_contain_text("0 members on")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Show with everything recorded so far").click()
    expect(page.locator("#members-count")).to_contain_text("1 member on")
