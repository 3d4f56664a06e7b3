"""Doctors out to Excel and back, through the admin, in a real browser."""

import io
import re

import pytest
from openpyxl import Workbook, load_workbook
from playwright.sync_api import expect

from doctors.models import Doctor
from tests.browser.accessibility import assert_accessible
from tests.browser.pages import open_admin
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.browser

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def departments():
    return [
        DepartmentFactory(code="CARD", name="Cardiology"),
        DepartmentFactory(code="NEUR", name="Neurology"),
    ]


def upload_workbook(page, data: bytes, name: str = "doctors.xlsx") -> None:
    open_admin(page, "admin:doctors_doctor_changelist")
    with page.expect_navigation():
        page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label(re.compile(r"^File:?$")).set_input_files(
        {"name": name, "mimeType": XLSX, "buffer": data}
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()


def test_export_the_filtered_list_as_xlsx_change_a_cell_and_import_it_back(
    page_as, clinic_staff, departments
):
    """The preview of the edited workbook lists exactly the one changed cell."""
    cardiology, neurology = departments
    for number, name in enumerate(["Heart", "Pulse", "Valve"]):
        MembershipFactory(
            doctor=DoctorFactory(license_number=f"LIC-{number}", last_name=name),
            department=cardiology,
            is_primary=True,
        )
    MembershipFactory(doctor=DoctorFactory(last_name="Brain"), department=neurology)
    page = page_as(clinic_staff)
    page.goto(f"/admin/doctors/doctor/?departments__id__exact={cardiology.pk}")
    with page.expect_navigation():
        page.get_by_role("link", name="Export", exact=True).click()
    expect(page.get_by_text("The 3 doctors of the list")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Format").select_option("xlsx")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export").click()
    assert download.value.suggested_filename.endswith(".xlsx")

    with open(download.value.path(), "rb") as stream:
        workbook = load_workbook(stream)
    sheet = workbook["Doctors"]
    rows = list(sheet.values)
    assert sorted(row[2] for row in rows[1:]) == ["Heart", "Pulse", "Valve"]
    pulse = next(r for r, row in enumerate(rows, 1) if row[2] == "Pulse")
    sheet.cell(row=pulse, column=5, value="+1 555 0199")  # phone, a text cell
    edited = io.BytesIO()
    workbook.save(edited)

    upload_workbook(page, edited.getvalue())
    expect(page.locator(".csv-count-updated")).to_have_text("1")
    expect(page.locator(".csv-count-unchanged")).to_have_text("2")
    expect(page.locator(".csv-count-problems")).to_have_text("0")
    changes = page.locator("table.csv-changes tbody tr")
    expect(changes).to_have_count(1)
    expect(changes).to_contain_text("LIC-1")
    expect(changes).to_contain_text("Phone")
    expect(changes).to_contain_text("+1 555 0199")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm import").click()
    assert Doctor.objects.get(license_number="LIC-1").phone == "+1 555 0199"


def test_a_bad_cell_in_a_workbook_is_named_by_its_cell(
    page_as, clinic_staff, departments
):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Doctors"
    sheet.append(
        [
            "license_number",
            "first_name",
            "last_name",
            "email",
            "phone",
            "specialty",
            "departments",
            "is_active",
        ]
    )
    sheet.append(
        ["LIC-1", "Ann", "Lee", "ann@clinic.test", 5551234, "Cardiology", "CARD", True]
    )
    sheet.append(
        ["LIC-2", "Bo", "Sun", "bo@clinic.test", "", "Cardiology", "CARD", "maybe"]
    )
    data = io.BytesIO()
    workbook.save(data)
    page = page_as(clinic_staff)
    upload_workbook(page, data.getvalue())
    problems = page.locator("table.csv-problems tbody tr")
    expect(problems).to_have_count(1)
    expect(problems).to_contain_text("Doctors!H3")
    expect(problems).to_contain_text("'maybe' is not one of true/false")
    expect(page.get_by_role("button", name="Confirm import")).to_have_count(0)
    assert not Doctor.objects.exists()
