"""Doctors in and out as CSV, through the admin, in a real browser."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from doctors.models import ActivityEvent, Doctor
from tests.browser.accessibility import assert_accessible
from tests.browser.pages import (
    changelist_rows,
    expect_message,
    messages,
    open_admin,
)
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.processes import run_task_worker

pytestmark = pytest.mark.browser

HEADER = (
    "license_number,first_name,last_name,email,phone,specialty,departments,is_active"
)


def csv_file(*rows: str) -> dict:
    """A file as the browser's file picker hands it over."""
    body = "\n".join([HEADER, *rows]) + "\n"
    return {"name": "doctors.csv", "mimeType": "text/csv", "buffer": body.encode()}


@pytest.fixture
def departments():
    return [
        DepartmentFactory(code="CARD", name="Cardiology"),
        DepartmentFactory(code="NEUR", name="Neurology"),
    ]


def upload(page, file: dict) -> None:
    open_admin(page, "admin:doctors_doctor_changelist")
    with page.expect_navigation():
        page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label(re.compile(r"^File:?$")).set_input_files(file)
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()


def test_staff_import_through_preview_and_confirm(page_as, clinic_staff, departments):
    """The preview counts what will happen; confirming imports it and shows the
    summary above the doctor list, where the doctors are with their departments."""
    page = page_as(clinic_staff)
    upload(
        page,
        csv_file(
            "LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD|NEUR,yes",
            "LIC-2,Bo,Sun,bo@clinic.test,+1 555 0101,neurology,NEUR,",
        ),
    )
    expect(page.locator(".csv-count-new")).to_have_text("2")
    expect(page.locator(".csv-count-problems")).to_have_text("0")
    assert not Doctor.objects.exists()  # a preview writes nothing

    with page.expect_navigation():
        page.get_by_role("button", name="Confirm import").click()
    expect_message(
        page,
        "Import of doctors.csv: 2 rows; created 2, updated 0, 0 unchanged; "
        "memberships: 3 added, 0 changed, 0 removed.",
    )
    # The message leads on; the import's one page is where it landed.
    expect(
        messages(page).get_by_role("link", name=re.compile("undo it"))
    ).to_be_visible()
    expect(page.locator(".field-outcome")).to_contain_text(
        "2 doctors added, 0 changed, 0 unchanged; 3 memberships added"
    )
    expect(page.locator("#run-changes")).to_be_visible()
    open_admin(page, "admin:doctors_doctor_changelist")
    expect(changelist_rows(page).filter(has_text="Lee, Ann")).to_contain_text(
        "Cardiology, Neurology"
    )
    assert ActivityEvent.objects.filter(verb="imported").count() == 1


def test_a_bad_row_is_shown_with_its_row_and_column_and_nothing_changes(
    page_as, clinic_staff, departments
):
    page = page_as(clinic_staff)
    upload(
        page,
        csv_file(
            "LIC-1,Ann,Lee,ann@clinic.test,,cardiology,CARD,true",
            "LIC-2,Bo,Sun,not-an-email,,cardiology,NOPE,true",
        ),
    )
    problems = page.locator("table.csv-problems tbody tr")
    expect(problems.filter(has_text="email")).to_contain_text("3")
    expect(problems.filter(has_text="departments")).to_contain_text("NOPE")
    expect(page.get_by_text("Nothing was imported.")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm import")).to_have_count(0)
    assert not Doctor.objects.exists()


def test_staff_export_the_filtered_doctor_list(page_as, clinic_staff, departments):
    """The downloaded file holds the doctors of the filtered list, in the import
    format."""
    cardiology, neurology = departments
    for name in ["Heart", "Pulse"]:
        MembershipFactory(
            doctor=DoctorFactory(last_name=name), department=cardiology, is_primary=True
        )
    MembershipFactory(doctor=DoctorFactory(last_name="Brain"), department=neurology)
    page = page_as(clinic_staff)
    page.goto(f"/admin/doctors/doctor/?departments__id__exact={cardiology.pk}")
    with page.expect_navigation():
        page.get_by_role("link", name="Export", exact=True).click()
    page.get_by_label("Format").select_option("csv")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export").click()
    # UTF-8 with a byte-order mark, so that spreadsheets read the accents right.
    text = download.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row["last_name"] for row in rows) == ["Heart", "Pulse"]
    assert {row["departments"] for row in rows} == {"CARD"}
    assert list(rows[0]) == HEADER.split(",")


def test_a_large_import_shows_its_progress_then_the_summary(
    page_as, clinic_staff, departments, settings
):
    """Above the row threshold the preview and the import run in the task worker;
    the page shows the progress and then the summary by itself."""
    settings.IMPORT_BACKGROUND_ROWS = 2
    page = page_as(clinic_staff)
    upload(
        page,
        csv_file(
            *(f"LIC-{n},A{n},B{n},d{n}@clinic.test,,oncology,CARD,1" for n in range(5))
        ),
    )
    expect(page.locator("#import-progress")).to_be_visible()
    assert_accessible(page)

    assert run_task_worker().returncode == 0  # the preview
    expect(page.get_by_role("button", name="Confirm import")).to_be_visible(
        timeout=20_000
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm import").click()
    expect(page.locator("#import-progress")).to_be_visible()
    assert not Doctor.objects.exists()  # the request only queued the work

    assert run_task_worker().returncode == 0  # the import
    # Finished, the page moves to the run's one page, with what it did.
    expect(page.locator(".field-outcome")).to_contain_text(
        "5 doctors added", timeout=20_000
    )
    expect(page.locator(".field-status")).to_contain_text("Imported")
    assert Doctor.objects.count() == 5
