"""Journeys through department memberships: the inline rows with the autocomplete
widget on the doctor and department pages, and the messages saying what changed."""

import pytest
from playwright.sync_api import expect

from doctors.models import ActivityEvent, Doctor, Membership
from doctors.roles import CLINIC_STAFF
from tests.browser.pages import (
    ChangeForm,
    changelist_rows,
    expect_message,
    log_in,
    open_admin,
    search_changelist,
)
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser


def test_staff_log_in_and_create_a_doctor_in_two_departments(page):
    """Staff log in through the login form, add a doctor, pick two departments in
    the inline's autocomplete, and read that the doctor joined both, with the
    first one as primary."""
    UserFactory(username="nurse-ann", groups=[CLINIC_STAFF])
    DepartmentFactory(code="CARD", name="Cardiology")
    DepartmentFactory(code="NEUR", name="Neurology")
    DepartmentFactory(code="NEPH", name="Nephrology")

    log_in(page, "nurse-ann")
    expect(page.get_by_text("Welcome, nurse-ann")).to_be_visible()
    with page.expect_navigation():
        page.locator("tr.model-doctor").get_by_role("link", name="Add").click()
    expect(page.get_by_role("heading", name="Add doctor")).to_be_visible()

    form = ChangeForm(page)
    form.fill("License number", "LIC-77001")
    form.fill("First name", "Jane")
    form.fill("Last name", "Roe")
    form.choose("Specialty", "Cardiology")
    form.fill("Email", "jane.roe@clinic.test")
    cardiology = form.add_inline_row("Add another department membership")
    # "Ne" matches two departments: the user has to pick from the suggestions.
    cardiology.pick("department", "Card", "Cardiology")
    cardiology.check("is_primary")
    neurology = form.add_inline_row("Add another department membership")
    neurology.pick("department", "Ne", "Neurology")
    form.save()

    expect_message(page, "The doctor “Dr Jane Roe” was added successfully.")
    expect_message(
        page,
        "Dr Jane Roe: added to Cardiology, Neurology; "
        "primary department now Cardiology.",
    )
    row = changelist_rows(page).filter(has_text="Roe, Jane")
    expect(row.locator("td.field-primary_department")).to_have_text("Cardiology")
    expect(row.locator("td.field-department_list")).to_have_text(
        "Cardiology, Neurology"
    )
    doctor = Doctor.objects.get(license_number="LIC-77001")
    assert sorted(doctor.memberships.values_list("department__name", "is_primary")) == [
        ("Cardiology", True),
        ("Neurology", False),
    ]


def test_staff_remove_a_doctor_from_a_department_and_name_a_new_head(
    page_as, clinic_staff
):
    """On a department page, staff take the head out of the department and make
    another member head in one save; the message says both, the activity feed
    lists the removal under the doctor's name, and so does her History page."""
    cardiology = DepartmentFactory(code="CARD", name="Cardiology")
    ada = DoctorFactory(first_name="Ada", last_name="Lovelace")
    grace = DoctorFactory(first_name="Grace", last_name="Hopper")
    MembershipFactory(doctor=ada, department=cardiology, role=Membership.Role.HEAD)
    MembershipFactory(doctor=grace, department=cardiology)

    page = page_as(clinic_staff)
    open_admin(page, "admin:doctors_department_change", cardiology.pk)
    form = ChangeForm(page)
    form.inline_row("Dr Ada Lovelace").mark_for_deletion()
    form.inline_row("Dr Grace Hopper").choose("role", "Head of department")
    form.save()

    expect_message(
        page, "Cardiology: removed Dr Ada Lovelace; Dr Grace Hopper is now head."
    )
    expect(
        changelist_rows(page).filter(has_text="Cardiology").locator("td.field-head")
    ).to_have_text("Dr Grace Hopper")

    # Ada's history of memberships: the feed, searched for her name.
    with page.expect_navigation():
        page.locator("#nav-sidebar").get_by_role("link", name="Activity events").click()
    search_changelist(page, "Lovelace")
    removal = changelist_rows(page).filter(has_text="Removed from department")
    expect(removal).to_have_count(1)
    expect(removal.locator("td.field-target_link")).to_have_text("Dr Ada Lovelace")
    expect(removal.locator("td.field-department_text")).to_have_text("Cardiology")
    expect(removal.locator("td.field-actor_name")).to_have_text(clinic_staff.username)
    # Her own page no longer lists the department...
    with page.expect_navigation():
        removal.get_by_role("link", name="Dr Ada Lovelace").click()
    expect(page.locator("tr.form-row.has_original")).to_have_count(0)
    # ...and her History page shows the change, with who made it.
    with page.expect_navigation():
        page.get_by_role("link", name="History").click()
    change = page.locator("#membership_change_history tbody tr").first
    expect(change).to_contain_text("Removed from department")
    expect(change).to_contain_text("Cardiology")
    expect(change).to_contain_text(clinic_staff.username)

    assert list(cardiology.memberships.values_list("doctor__last_name", "role")) == [
        ("Hopper", Membership.Role.HEAD)
    ]
    assert ActivityEvent.objects.filter(
        verb=ActivityEvent.Verb.MEMBERSHIP_REMOVED, target_id=ada.pk
    ).exists()
