"""The admin's CSV pages (doctors/admin/csv_io.py): preview, confirm, background
import with progress, export of the filtered list, and who may use them."""

import csv
import io

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from doctors.models import ActivityEvent, Doctor, ImportRun, Membership
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.test_importing import HEADER, csv_bytes, snapshot

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:doctors_doctor_import")
EXPORT_URL = reverse("admin:doctors_doctor_export")
ROWS = [
    "LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD|NEUR,",
    "LIC-2,Bo,Ray,bo@clinic.test,,Neurology,NEUR,no",
    "LIC-3,Cy,Day,cy@clinic.test,=1+2,Oncology,,",
]


@pytest.fixture
def departments():
    return DepartmentFactory(code="CARD"), DepartmentFactory(code="NEUR")


def upload(client, data: bytes, name="doctors.csv", url=IMPORT_URL, **fields):
    """Upload a file; the response is the page the upload redirects to."""
    return client.post(
        url, {"file": SimpleUploadedFile(name, data, "text/csv"), **fields}, follow=True
    )


def counts(response) -> tuple[int, int, int]:
    run = response.context["run"]
    return run.created, run.updated, run.unchanged


def confirm(client, run, model="doctor"):
    return client.post(reverse(f"admin:doctors_{model}_import_confirm", args=[run.pk]))


class TestPreviewAndConfirm:
    def test_preview_shows_counts_and_changes_and_writes_nothing(
        self, staff_client, departments
    ):
        DoctorFactory(license_number="LIC-2", email="bo@clinic.test", first_name="B")
        before = snapshot()
        response = upload(staff_client, csv_bytes(*ROWS))
        assert response.status_code == 200
        assert counts(response) == (2, 1, 0)
        page = response.content.decode()
        assert "Confirm import" in page
        assert "First name</strong>: B → Bo" in page
        assert "first_name" not in page
        assert snapshot() == before
        run = ImportRun.objects.get()
        assert (run.status, run.dry_run, run.file_name) == (
            "previewed",
            True,
            "doctors.csv",
        )

    def test_confirm_imports_the_previewed_file_with_one_message(
        self, staff_client, clinic_staff, departments
    ):
        upload(staff_client, csv_bytes(*ROWS))
        run = ImportRun.objects.get()
        response = confirm(staff_client, run)
        assert response.status_code == 302
        run_url = reverse("admin:doctors_importrun_change", args=[run.pk])
        assert response["Location"] == run_url
        (message,) = get_messages(response.wsgi_request)
        assert str(message).startswith("Import of doctors.csv: 3 rows; created 3")
        assert f'<a href="{run_url}">' in str(message)
        assert Doctor.objects.get(license_number="LIC-3").phone == "=1+2"
        run.refresh_from_db()
        assert (run.status, run.dry_run, run.created, run.content) == (
            "succeeded",
            False,
            3,
            b"",
        )
        event = ActivityEvent.objects.get(verb="imported")
        assert (event.actor, event.counts["file"]) == (clinic_staff, "doctors.csv")
        # A second confirm of the same preview imports nothing again.
        response = confirm(staff_client, run)
        assert response.status_code == 302
        assert ActivityEvent.objects.filter(verb="imported").count() == 1

    def test_preview_with_problems_lists_them_and_offers_no_confirm(
        self, staff_client, departments
    ):
        before = snapshot()
        response = upload(
            staff_client, csv_bytes(ROWS[0], "LIC-2,Bo,Ray,bo@,,Neurology,XRAY,")
        )
        page = response.content.decode()
        assert "Confirm import" not in page
        assert "unknown department code XRAY" in page
        assert "Enter a valid email address." in page
        assert snapshot() == before
        run = ImportRun.objects.get()
        # Confirming a preview with problems is refused all the same.
        response = confirm(staff_client, run)
        (message,) = get_messages(response.wsgi_request)
        assert "has problems" in str(message)
        assert snapshot() == before

    def test_upload_over_the_size_limit_is_refused(
        self, staff_client, departments, settings
    ):
        settings.IMPORT_MAX_UPLOAD_BYTES = 100
        response = upload(staff_client, csv_bytes(*ROWS))
        assert response.status_code == 200
        assert "files up to" in response.context["form"].errors["file"][0]
        assert response.redirect_chain == []
        assert not ImportRun.objects.exists()

    def test_an_excel_workbook_gets_a_clear_message(self, staff_client, departments):
        response = upload(staff_client, b"PK\x03\x04 workbook bytes", name="x.xlsx")
        assert "Excel workbook (.xlsx)" in response.content.decode()
        assert "damaged or incomplete" in response.content.decode()
        assert not Doctor.objects.exists()

    def test_encoding_chosen_in_the_form(self, staff_client, departments):
        data = csv_bytes("LIC-1,Zoë,Lee,z@clinic.test,,Cardiology,,", encoding="cp1252")
        upload(staff_client, data, encoding="cp1252")
        run = ImportRun.objects.get()
        assert run.encoding == "cp1252"
        confirm(staff_client, run)
        assert Doctor.objects.get().first_name == "Zoë"

    def test_someone_elses_preview_cannot_be_confirmed(
        self, client, staff_client, departments
    ):
        from tests.factories import UserFactory

        upload(staff_client, csv_bytes(*ROWS))
        run = ImportRun.objects.get()
        other = UserFactory(groups=["Clinic staff"])
        client.force_login(other)
        # Another importer's runs do not exist for them (see test_import_service).
        assert confirm(client, run).status_code == 404
        assert not Doctor.objects.exists()

    def test_departments_import_page(self, staff_client):
        url = reverse("admin:doctors_department_import")
        data = csv_bytes(
            "ICU,Intensive care,,", header="code,name,description,is_active"
        )
        response = upload(staff_client, data, url=url)
        assert counts(response) == (1, 0, 0)
        confirm(staff_client, ImportRun.objects.get(), model="department")
        assert ImportRun.objects.get().status == "succeeded"


def run_worker(monkeypatch) -> None:
    """Run the real task worker once over the queued tasks, in this process.

    The worker calls close_old_connections() as it wakes; inside the test's
    transaction that would close the PostgreSQL connection (whose autocommit
    differs from the settings), taking the test's data with it.
    """
    from django_tasks_db.management.commands import db_worker

    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


class TestBackgroundImport:
    def test_large_file_runs_in_the_worker_with_progress(
        self, staff_client, departments, settings, monkeypatch
    ):
        """Preview and import both run in the worker; the browser polls."""
        settings.IMPORT_BACKGROUND_ROWS = 2
        before = snapshot()
        response = upload(staff_client, csv_bytes(*ROWS))
        run = ImportRun.objects.get()
        run_url = reverse("admin:doctors_doctor_import_run", args=[run.pk])
        assert response.redirect_chain == [(run_url, 302)]
        assert (run.status, run.dry_run) == ("queued", True)
        page = response.content.decode()
        assert 'id="import-progress"' in page and "import_progress.js" in page
        assert "<script>" not in page and "Confirm import" not in page

        run_worker(monkeypatch)

        run.refresh_from_db()
        assert (run.status, run.created, run.total_rows) == ("previewed", 3, 3)
        # The preview's own task row is all it wrote.
        assert snapshot() == {**before, "tasks": before["tasks"] + 1}
        response = staff_client.get(run_url)
        assert response.context["in_background"]
        assert "Confirm import" in response.content.decode()
        response = confirm(staff_client, run)
        assert response["Location"] == run_url
        # The request only queued the work.
        assert not Doctor.objects.exists()
        run.refresh_from_db()
        assert run.status == "queued"
        page = staff_client.get(run_url).content.decode()
        assert 'id="import-progress"' in page and "import_progress.js" in page
        assert "<script>" not in page
        progress_url = reverse("admin:doctors_doctor_import_progress", args=[run.pk])
        data = staff_client.get(progress_url).json()
        assert (data["status"], data["finished"], data["total"]) == ("queued", False, 3)

        run_worker(monkeypatch)

        run.refresh_from_db()
        assert (run.status, run.created, run.content) == ("succeeded", 3, b"")
        assert Doctor.objects.count() == 3
        data = staff_client.get(progress_url).json()
        assert data["finished"] and (data["phase"], data["done"]) == ("writing", 3)
        # Finished, the run has one page: the import log's, with what it did
        # in words and the rows it changed.
        response = staff_client.get(run_url, follow=True)
        assert response.redirect_chain == [
            (reverse("admin:doctors_importrun_change", args=[run.pk]), 302)
        ]
        page = response.content.decode()
        assert "3 doctors added, 0 changed, 0 unchanged" in page
        assert 'id="run-changes"' in page and "License number" in page
        welcome = DBTaskResult.objects.filter(task_path__endswith="send_welcome_emails")
        assert welcome.count() == 1

    def test_worker_failure_is_reported_on_the_run(
        self, staff_client, departments, settings, monkeypatch
    ):
        """Rows that became invalid between preview and import: nothing written,
        the run page lists the problem."""
        settings.IMPORT_BACKGROUND_ROWS = 2
        upload(staff_client, csv_bytes(*ROWS))
        run_worker(monkeypatch)
        run = ImportRun.objects.get()
        confirm(staff_client, run)
        DoctorFactory(license_number="LIC-9", email="ANN@clinic.test")
        before = snapshot()
        run_worker(monkeypatch)
        run.refresh_from_db()
        assert run.status == "failed"
        assert run.errors[0][:2] == [2, "email"]
        assert snapshot() == before
        page = staff_client.get(
            reverse("admin:doctors_doctor_import_run", args=[run.pk]), follow=True
        ).content.decode()
        assert "already belongs to doctor LIC-9" in page
        assert "Nothing was imported" in page


class TestExport:
    def test_export_follows_filters_and_search_and_is_formula_safe(
        self, staff_client, departments
    ):
        card, neur = departments
        ann = DoctorFactory(
            license_number="LIC-1",
            last_name="Smith",
            specialty="neurology",
            phone="=HYPERLINK(1)",
        )
        MembershipFactory(doctor=ann, department=card, role="head", is_primary=True)
        MembershipFactory(doctor=ann, department=neur)
        DoctorFactory(license_number="LIC-2", last_name="Smith", specialty="oncology")
        DoctorFactory(license_number="LIC-3", last_name="Jones", specialty="neurology")
        response = staff_client.get(
            EXPORT_URL,
            {"specialty__exact": "neurology", "q": "smith", "file_format": "csv"},
        )
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == HEADER.split(",")
        assert [row[0] for row in rows[1:]] == ["LIC-1"]
        assert rows[1][4] == "'=HYPERLINK(1)"
        assert rows[1][6] == "CARD:head|NEUR"

    def test_changelist_links_carry_the_filters(self, staff_client):
        response = staff_client.get(
            reverse("admin:doctors_doctor_changelist"), {"q": "smith"}
        )
        page = response.content.decode()
        assert f'href="{EXPORT_URL}?q=smith"' in page
        assert f'href="{IMPORT_URL}"' in page

    def test_export_then_import_changes_nothing(self, staff_client, departments):
        card, neur = departments
        for n in range(5):
            doctor = DoctorFactory(phone=f"+1 555 {n}", first_name=f"@n{n}")
            MembershipFactory(doctor=doctor, department=neur, is_primary=n % 2 == 0)
        MembershipFactory(doctor=doctor, department=card, role="head")
        exported = b"".join(
            staff_client.get(EXPORT_URL, {"file_format": "csv"}).streaming_content
        )
        before = snapshot()
        response = upload(staff_client, exported)
        run = response.context["run"]
        assert (run.error_count, run.preview) == (0, [])
        assert counts(response) == (0, 0, 5)
        assert "Nothing to import" in response.content.decode()
        assert not response.context["can_confirm"]
        assert snapshot() == before
        assert Membership.objects.filter(role="head").count() == 1


def test_department_export_round_trip(staff_client):
    DepartmentFactory(code="ICU", name="-Intensive care", description="Line 1\nLine 2")
    DepartmentFactory(code="ER", name="Emergency", is_active=False)
    url = reverse("admin:doctors_department_export")
    exported = b"".join(
        staff_client.get(url, {"q": "ICU", "file_format": "csv"}).streaming_content
    )
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    assert rows == [
        ["code", "name", "description", "is_active"],
        ["ICU", "'-Intensive care", "Line 1\nLine 2", "true"],
    ]
    everything = b"".join(
        staff_client.get(url, {"file_format": "csv"}).streaming_content
    )
    response = upload(
        staff_client, everything, url=reverse("admin:doctors_department_import")
    )
    assert counts(response) == (0, 0, 2)


class TestPermissions:
    def test_staff_without_doctor_permissions_cannot_import_or_export(
        self, client, staff_without_role, departments
    ):
        client.force_login(staff_without_role)
        assert client.get(IMPORT_URL).status_code == 403
        assert upload(client, csv_bytes(*ROWS)).status_code == 403
        assert client.get(EXPORT_URL).status_code == 403
        assert not Doctor.objects.exists() and not ImportRun.objects.exists()

    def test_managers_export_but_do_not_import(self, client, manager, departments):
        client.force_login(manager)
        assert client.get(EXPORT_URL).status_code == 200
        assert upload(client, csv_bytes(*ROWS)).status_code == 403
        page = client.get(reverse("admin:doctors_doctor_changelist")).content.decode()
        assert "csv-export-link" in page and "csv-import-link" not in page

    def test_a_run_page_needs_the_import_permission(
        self, client, staff_client, manager, departments
    ):
        upload(staff_client, csv_bytes(*ROWS))
        run = ImportRun.objects.get()
        client.force_login(manager)
        for name in ["import_run", "import_progress"]:
            url = reverse(f"admin:doctors_doctor_{name}", args=[run.pk])
            assert client.get(url).status_code == 403
        assert confirm(client, run).status_code == 403
