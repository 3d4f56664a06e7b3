"""The admin's import and export in every format (doctors/admin/csv_io.py,
doctors/admin/exports.py): format choice, the export page with its columns,
the "Export selected" action, background runs and permissions."""

import io
import json

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from doctors.models import ActivityEvent, Doctor, ImportRun
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.test_admin_csv import confirm, counts, run_worker, upload
from tests.test_importing import HEADER, csv_bytes
from tests.test_sources import xlsx

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:doctors_doctor_import")
EXPORT_URL = reverse("admin:doctors_doctor_export")
CHANGELIST_URL = reverse("admin:doctors_doctor_changelist")
ANN = ["LIC-1", "Ann", "Lee", "ann@clinic.test", 5551234, "Cardiology", "CARD", True]
BO = ["LIC-2", "Bo", "Ray", "bo@clinic.test", "", "neurology", "NEUR", False]


@pytest.fixture
def departments():
    return DepartmentFactory(code="CARD"), DepartmentFactory(code="NEUR")


class TestImport:
    def test_an_xlsx_upload_previews_and_imports(self, staff_client, departments):
        response = upload(staff_client, xlsx(ANN, BO), name="doctors.xlsx")
        run = response.context["run"]
        assert (run.file_format, run.error_count) == ("xlsx", 0)
        assert counts(response) == (2, 0, 0)
        assert not Doctor.objects.exists()
        confirm(staff_client, run)
        run.refresh_from_db()
        assert run.status == "succeeded"
        assert Doctor.objects.get(license_number="LIC-1").phone == "5551234"
        event = ActivityEvent.objects.get(verb="imported")
        assert event.counts["file"] == "doctors.xlsx"
        # Change records, as for CSV: one history row per doctor and membership.
        assert Doctor.history.count() == 2
        history = Doctor.history.get(license_number="LIC-1")
        assert history.history_change_reason == "Import of doctors.xlsx"
        assert history.history_user == run.user

    def test_the_format_chosen_in_the_form(self, staff_client, departments):
        data = csv_bytes(
            "\t".join(["LIC-1", "Ann", "Lee", "a@c.test", "", "oncology", "", ""]),
            header=HEADER.replace(",", "\t"),
        )
        response = upload(staff_client, data, name="doctors.dat", file_format="tsv")
        run = response.context["run"]
        assert (run.file_format, run.created, run.error_count) == ("tsv", 1, 0)
        confirm(staff_client, run)
        assert Doctor.objects.filter(license_number="LIC-1").exists()

    def test_a_bad_cell_is_named_on_the_preview(self, staff_client, departments):
        bad = [*ANN[:3], "not-an-email", *ANN[4:]]
        response = upload(staff_client, xlsx(bad), name="doctors.xlsx")
        page = response.content.decode()
        assert "email (cell Doctors!D2)" in page
        assert "Confirm import" not in page

    def test_the_import_page_explains_the_columns_of_the_resource(self, staff_client):
        page = staff_client.get(IMPORT_URL).content.decode()
        assert "Excel (.xlsx)" in page and "OpenDocument (.ods)" in page
        assert "CARD:head makes the doctor head of CARD" in page
        assert '<option value="xlsx">Excel workbook (.xlsx)</option>' in page

    def test_a_large_workbook_runs_in_the_worker(
        self, staff_client, departments, settings, monkeypatch
    ):
        settings.IMPORT_BACKGROUND_ROWS = 2
        rows = [
            [f"L-{n}", "A", "B", f"{n}@c.test", "", "oncology", "", 1] for n in range(3)
        ]
        upload(staff_client, xlsx(*rows), name="doctors.xlsx")
        run = ImportRun.objects.get()
        assert (run.status, run.file_format) == ("queued", "")
        run_worker(monkeypatch)
        run.refresh_from_db()
        assert (run.status, run.file_format, run.created) == ("previewed", "xlsx", 3)
        confirm(staff_client, run)
        run_worker(monkeypatch)
        run.refresh_from_db()
        assert run.status == "succeeded" and Doctor.objects.count() == 3


def _filtered_doctors(departments):
    card, neur = departments
    ann = DoctorFactory(license_number="LIC-1", last_name="Smith", phone="=1+2")
    MembershipFactory(doctor=ann, department=card, role="head", is_primary=True)
    DoctorFactory(license_number="LIC-2", last_name="Smith", is_active=False)
    DoctorFactory(license_number="LIC-3", last_name="Jones")
    return ann


class TestExportPage:
    def test_the_page_offers_formats_and_columns_for_the_filtered_list(
        self, staff_client, departments
    ):
        _filtered_doctors(departments)
        response = staff_client.get(EXPORT_URL, {"q": "smith"})
        page = response.content.decode()
        assert response.context["count"] == 2
        assert f'action="{EXPORT_URL}?q=smith"' in page
        for name in HEADER.split(","):
            assert f'value="{name}"' in page
        assert '<option value="ods">' in page and '<option value="json">' in page

    def test_an_xlsx_download_of_the_filtered_list(self, staff_client, departments):
        _filtered_doctors(departments)
        response = staff_client.post(
            f"{EXPORT_URL}?q=smith",
            {"file_format": "xlsx", "columns": HEADER.split(",")},
        )
        assert response.status_code == 200
        assert response["Content-Type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert ".xlsx" in response["Content-Disposition"]
        sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))[
            "Doctors"
        ]
        rows = list(sheet.values)
        assert rows[0] == tuple(HEADER.split(","))
        assert sorted(row[0] for row in rows[1:]) == ["LIC-1", "LIC-2"]
        ann = next(row for row in rows if row[0] == "LIC-1")
        assert ann[4] == "=1+2" and ann[6] == "CARD:head" and ann[7] is True

    def test_chosen_columns_only(self, staff_client, departments):
        _filtered_doctors(departments)
        response = staff_client.post(
            EXPORT_URL, {"file_format": "json", "columns": ["email", "license_number"]}
        )
        records = json.loads(b"".join(response.streaming_content))
        assert [list(record) for record in records] == [["license_number", "email"]] * 3

    def test_no_columns_is_an_error_on_the_page(self, staff_client, departments):
        response = staff_client.post(EXPORT_URL, {"file_format": "csv"})
        assert response.status_code == 200
        assert "This field is required" in response.content.decode()

    def test_an_ods_download_imports_back_unchanged(self, staff_client, departments):
        _filtered_doctors(departments)
        response = staff_client.post(
            EXPORT_URL, {"file_format": "ods", "columns": HEADER.split(",")}
        )
        data = b"".join(response.streaming_content)
        preview = upload(staff_client, data, name="doctors.ods")
        assert counts(preview) == (0, 0, 3)
        assert preview.context["run"].error_count == 0


class TestExportSelected:
    def test_the_action_exports_only_the_picked_rows(self, staff_client, departments):
        ann = _filtered_doctors(departments)
        jones = Doctor.objects.get(license_number="LIC-3")
        response = staff_client.post(
            CHANGELIST_URL,
            {"action": "export_selected", "_selected_action": [ann.pk, jones.pk]},
        )
        assert response.status_code == 200
        assert response.context["picked"] and response.context["count"] == 2
        form = response.context["form"]
        assert form["ids"].value() == f"{ann.pk},{jones.pk}"
        download = staff_client.post(
            EXPORT_URL,
            {
                "file_format": "csv",
                "columns": ["license_number"],
                "ids": form["ids"].value(),
            },
        )
        text = b"".join(download.streaming_content).decode("utf-8-sig")
        # In the list's order: by name.
        assert text.split() == ["license_number", "LIC-3", "LIC-1"]

    def test_select_all_exports_the_filtered_list(self, staff_client, departments):
        _filtered_doctors(departments)
        ids = list(Doctor.objects.values_list("pk", flat=True))
        response = staff_client.post(
            f"{CHANGELIST_URL}?q=smith",
            {
                "action": "export_selected",
                "_selected_action": ids,
                "select_across": "1",
            },
        )
        assert response.context["form"]["ids"].value() == ""
        assert response.context["count"] == 2
        assert f'action="{EXPORT_URL}?q=smith"' in response.content.decode()

    def test_the_action_is_offered_only_with_the_export_permission(
        self, client, staff_client, staff_without_role, manager
    ):
        page = staff_client.get(CHANGELIST_URL).content.decode()
        assert 'value="export_selected"' in page
        client.force_login(manager)
        assert 'value="export_selected"' in client.get(CHANGELIST_URL).content.decode()
        client.force_login(staff_without_role)
        assert client.post(EXPORT_URL, {"file_format": "csv"}).status_code == 403


def test_department_export_page_and_xlsx_round_trip(staff_client):
    DepartmentFactory(code="ICU", name="-Intensive care", description="a\nb")
    DepartmentFactory(code="ER", name="Emergency", is_active=False)
    url = reverse("admin:doctors_department_export")
    response = staff_client.post(
        url,
        {
            "file_format": "xlsx",
            "columns": ["code", "name", "description", "is_active"],
        },
    )
    data = b"".join(response.streaming_content)
    sheet = load_workbook(io.BytesIO(data))["Departments"]
    assert sheet["B2"].value in {"-Intensive care", "Emergency"}
    preview = upload(
        staff_client,
        data,
        name="departments.xlsx",
        url=reverse("admin:doctors_department_import"),
    )
    assert counts(preview) == (0, 0, 2)
