"""What each role meets in the browser."""

import pytest
from playwright.sync_api import expect

from tests.browser.pages import changelist_rows, open_admin
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.browser


def test_a_manager_reads_doctors_but_cannot_change_them(page_as, manager):
    """Managers see the doctor list and each doctor's page, with no way to add,
    edit or save (only to export)."""
    doctor = DoctorFactory(first_name="Ada", last_name="Lovelace")
    MembershipFactory(
        doctor=doctor, department=DepartmentFactory(name="Cardiology"), is_primary=True
    )
    page = page_as(manager)

    open_admin(page, "admin:doctors_doctor_changelist")
    expect(changelist_rows(page).filter(has_text="Lovelace, Ada")).to_have_count(1)
    expect(page.get_by_role("link", name="Add doctor")).to_have_count(0)
    # Managers may export, so the one action offered is the export.
    expect(page.get_by_role("combobox", name="Action").locator("option")).to_have_text(
        ["- Select an option -", "Export selected doctors"]
    )

    with page.expect_navigation():
        page.get_by_role("link", name="Lovelace, Ada").click()
    expect(page.get_by_role("heading", name="View doctor")).to_be_visible()
    expect(page.locator(".field-first_name .readonly")).to_have_text("Ada")
    expect(page.locator("tr.form-row.has_original td.field-department")).to_have_text(
        "Cardiology"
    )
    expect(page.locator("form input:not([type=hidden]), form select")).to_have_count(0)
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("button", name="Close")).to_be_visible()
