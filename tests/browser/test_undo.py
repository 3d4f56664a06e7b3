"""Undoing a bad import in a real browser: the damage, the undo, the story."""

import re

import pytest
from playwright.sync_api import expect

from doctors.models import Department, Doctor, Membership
from doctors.roles import CLINIC_STAFF, MANAGERS
from tests.browser.accessibility import assert_accessible
from tests.browser.pages import expect_message, open_admin
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser

HEADER = (
    "license_number,first_name,last_name,email,phone,specialty,departments,is_active"
)


def every_field() -> dict[str, list[tuple]]:
    """Every doctor, department and membership field (a doctor's "last change"
    time aside, which moves with every write)."""

    def rows(model, exclude=()):
        fields = [f.attname for f in model._meta.concrete_fields]
        fields = [name for name in fields if name not in exclude]
        return list(model.objects.order_by("pk").values_list(*fields))

    return {
        "doctors": rows(Doctor, exclude=("updated_at",)),
        "departments": rows(Department, exclude=("updated_at",)),
        "memberships": rows(Membership),
    }


@pytest.fixture
def clinic():
    """Cardiology with three doctors (Heart0 heads it), Neurology with one."""
    cardiology = DepartmentFactory(code="CARD", name="Cardiology")
    neurology = DepartmentFactory(code="NEUR", name="Neurology")
    doctors = []
    for index in range(3):
        doctor = DoctorFactory(
            license_number=f"LIC-H{index}", first_name="Ann", last_name=f"Heart{index}"
        )
        MembershipFactory(
            doctor=doctor,
            department=cardiology,
            is_primary=True,
            role="head" if index == 0 else "member",
        )
        doctors.append(doctor)
    brain = DoctorFactory(license_number="LIC-B", first_name="Bo", last_name="Brain")
    MembershipFactory(doctor=brain, department=neurology, is_primary=True)
    return doctors + [brain]


def roster(doctors, departments_column) -> dict:
    """The clinic's roster as a CSV file, with `departments_column` for every
    doctor: the column pasted from the wrong sheet."""
    lines = [HEADER] + [
        f"{d.license_number},{d.first_name},{d.last_name},{d.email},,"
        f"{d.get_specialty_display()},{departments_column},true"
        for d in doctors
    ]
    body = "\n".join(lines) + "\n"
    return {"name": "roster.csv", "mimeType": "text/csv", "buffer": body.encode()}


def test_staff_undo_an_import_with_a_wrong_department_column(page_as, clinic):
    """Staff import a roster whose departments column is wrong, see the damage
    on the dashboard and on a doctor's page, undo the run from its page, and
    everything is as before; the feed tells the story."""
    lead = UserFactory(username="lead", groups=[CLINIC_STAFF, MANAGERS])
    before = every_field()
    page = page_as(lead)

    # The import: preview, then confirm with a reason.
    open_admin(page, "admin:doctors_doctor_changelist")
    with page.expect_navigation():
        page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label(re.compile(r"^File:?$")).set_input_files(roster(clinic, "NEUR"))
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()
    page.get_by_label("Reason (optional)").fill("Monthly roster")
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm import").click()
    expect_message(page, "Import of roster.csv")

    # The damage, on the dashboard: everyone is in Neurology now.
    page.goto("/admin/dashboard/")
    label = page.locator("svg#department-chart").get_attribute("aria-label")
    assert "Neurology: 4" in label and "Cardiology: 3" not in label, label
    # ... and on a doctor's page: Heart0 is no longer in Cardiology.
    heart = clinic[0]
    open_admin(page, "admin:doctors_doctor_change", heart.pk)
    memberships = page.locator("#memberships-group")
    expect(memberships).to_contain_text("Neurology")
    expect(memberships).not_to_contain_text("Cardiology")

    # The run's page offers the undo; its preview says what it will restore.
    open_admin(page, "admin:doctors_importrun_changelist")
    run_row = page.locator("#result_list tbody tr").filter(has_text="roster.csv")
    with page.expect_navigation():
        run_row.locator("th a").click()
    with page.expect_navigation():
        page.get_by_role("link", name="Undo this import").click()
    expect(page.locator("#undo-counts")).to_contain_text("Memberships")
    expect(page.locator("#undo-rows")).to_contain_text("Heart0")
    expect(page.locator("#undo-conflicts")).to_have_count(0)
    assert_accessible(page)
    page.get_by_label("Reason").fill("Wrong departments column")
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm undo").click()
    expect_message(page, "Undid import #")
    expect(page.get_by_role("link", name="Redo this import")).to_be_visible()

    # Everything as before, field by field.
    assert every_field() == before
    page.goto("/admin/dashboard/")
    label = page.locator("svg#department-chart").get_attribute("aria-label")
    assert "Cardiology: 3" in label and "Neurology: 1" in label, label
    open_admin(page, "admin:doctors_doctor_change", heart.pk)
    expect(page.locator("#memberships-group")).to_contain_text("Cardiology")

    # The feed tells the story: the import, then its undo, each with its
    # change-set and reason.
    open_admin(page, "admin:doctors_activityevent_changelist")
    rows = page.locator("#result_list tbody tr")
    expect(rows.nth(0)).to_contain_text("Undid import #")
    expect(rows.nth(1)).to_contain_text("Import of roster.csv")
    with page.expect_navigation():
        rows.nth(0).get_by_role("link", name="#").first.click()
    expect(page.locator("#content-main")).to_contain_text("Wrong departments column")
    expect(page.locator("#change-set-membership")).to_contain_text("Heart0")
