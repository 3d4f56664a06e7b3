"""Journeys through time travel: reverting a doctor to an earlier version of
its departments, and who was in a department on a date."""

import pytest
from playwright.sync_api import expect

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

    # The History page: the timeline, newest first, with who made each change.
    open_admin(page, "admin:doctors_doctor_change", ada.pk)
    with page.expect_navigation():
        page.get_by_role("link", name="History").click()
    timeline = page.locator("#membership_timeline tbody tr")
    expect(timeline).to_have_count(5)
    expect(timeline.first).to_contain_text("Joined")
    expect(timeline.first).to_contain_text("Oncology")
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
    joined_neurology = timeline.filter(has_text="Joined").filter(has_text="Neurology")
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
    expect(timeline.first).to_contain_text("Oncology was a mistake")


def test_a_manager_reads_who_was_in_a_department(page_as, manager):
    """From the department's page, a manager opens "Members on a date" and
    reads the members with their role."""
    card = DepartmentFactory(code="CARD", name="Cardiology")
    card.doctors.add(
        DoctorFactory(first_name="Ada", last_name="Byron", license_number="L-1"),
        through_defaults={"role": Membership.Role.HEAD},
    )
    page = page_as(manager)
    open_admin(page, "admin:doctors_department_change", card.pk)
    with page.expect_navigation():
        page.get_by_role("link", name="Members on a date").click()
    expect(page.locator("#members-count")).to_contain_text("1 member on")
    row = page.locator("#members_on_date tbody tr")
    expect(row).to_have_count(1)
    expect(row.first).to_contain_text("Ada Byron")
    expect(row.first).to_contain_text("Head of department")
    assert_accessible(page)
    page.get_by_label("Members on").fill("2001-01-01")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(page.locator("#members-count")).to_contain_text("0 members on")
