"""An import run's one page (the import log's change page): what it did in
words, the rows it changed and its problems a page at a time, the change-set
and the undo button; the import's own result page leads there."""

import pytest
from django.urls import reverse

from doctors.admin.csv_io import PAGE_SIZE
from doctors.admin.naming import field_label
from doctors.models import Doctor, ImportRun
from doctors.runs.imports import counts_text
from tests.factories import DoctorFactory
from tests.test_admin_csv import ROWS, departments, upload  # noqa: F401
from tests.test_importing import csv_bytes

pytestmark = pytest.mark.django_db


def run_page(client, run, **query):
    return client.get(
        reverse("admin:doctors_importrun_change", args=[run.pk]), query
    ).content.decode()


def test_counts_in_words():
    run = ImportRun(
        kind=ImportRun.Kind.DOCTORS,
        created=4,
        updated=2,
        unchanged=1234,
        counts={"memberships_added": 12, "memberships_changed": 1},
    )
    assert counts_text(run) == (
        "4 doctors added, 2 changed, 1,234 unchanged; 12 memberships added, 1 changed"
    )
    one = ImportRun(kind=ImportRun.Kind.DEPARTMENTS, created=1, dry_run=True)
    assert counts_text(one) == (
        "1 department would be added, 0 would change, 0 unchanged"
    )


def test_field_labels_are_the_clinics_words():
    assert field_label(Doctor, "license_number") == "License number"
    assert field_label(Doctor, "departments") == "Departments"


def test_confirmed_import_has_one_page_with_words_rows_and_undo(
    staff_client,
    departments,  # noqa: F811
):
    DoctorFactory(license_number="LIC-2", first_name="B")
    upload(staff_client, csv_bytes(*ROWS))
    run = ImportRun.objects.get()
    response = staff_client.post(
        reverse("admin:doctors_doctor_import_confirm", args=[run.pk]), follow=True
    )
    page = response.content.decode()
    run.refresh_from_db()
    assert response.redirect_chain[-1][0] == reverse(
        "admin:doctors_importrun_change", args=[run.pk]
    )
    assert "2 doctors added, 1 changed, 0 unchanged; 3 memberships added" in page
    assert "Counts" not in page and "memberships_added" not in page
    assert "<td>LIC-2</td><td>Changed</td>" in page
    assert "<strong>First name</strong>: B → Bo" in page
    assert "<td>LIC-1</td><td>Added</td>" in page
    assert "first_name" not in page
    change_set = reverse("admin:doctors_changeset_change", args=[run.change_set_id])
    assert f'href="{change_set}"' in page
    assert reverse("admin:doctors_importrun_undo", args=[run.pk]) in page
    # The result page of the import leads to this one page.
    result = staff_client.get(reverse("admin:doctors_doctor_import_run", args=[run.pk]))
    assert result["Location"] == reverse(
        "admin:doctors_importrun_change", args=[run.pk]
    )


def test_rows_and_problems_come_a_page_at_a_time(staff_client, clinic_staff):
    rows = PAGE_SIZE + 5
    run = ImportRun.objects.create(
        kind=ImportRun.Kind.DOCTORS,
        status=ImportRun.Status.FAILED,
        source="admin",
        user=clinic_staff,
        file_name="many.csv",
        total_rows=rows,
        error_count=rows + 100,
        errors=[[n, "email", f"Problem number {n}."] for n in range(2, rows + 2)],
        preview=[[n, f"LIC-{n}", "update", {"phone": ["1", "2"]}] for n in range(rows)],
    )
    first = run_page(staff_client, run)
    assert "Problem number 2." in first and f"Problem number {PAGE_SIZE + 1}." in first
    assert f"Problem number {PAGE_SIZE + 2}." not in first
    assert f"Page 1 of 2 (1–{PAGE_SIZE} of {rows})" in first
    assert "… and 100 more, not listed" in first
    second = run_page(staff_client, run, problems=2)
    assert f"Problem number {PAGE_SIZE + 2}." in second
    assert "Problem number 2." not in second
    assert f">LIC-{PAGE_SIZE}<" not in first
    assert f">LIC-{PAGE_SIZE}<" in run_page(staff_client, run, changes=2)
