"""The import run's life (doctors/runs/imports.py): confirm applies exactly
what was previewed, once; where the work runs; who sees which run; clearing up
stored files and stuck runs; the run pages stay bounded."""

import ast
import datetime
import pathlib

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from doctors.models import ActivityEvent, Department, Doctor, ImportRun, Membership
from doctors.runs import imports as service
from doctors.runs.status import moment_text
from doctors.worker import HeartbeatWorker
from tests.factories import DepartmentFactory, DoctorFactory, UserFactory
from tests.test_admin_csv import confirm, run_worker, upload
from tests.test_importing import csv_bytes, snapshot

pytestmark = pytest.mark.django_db

X = "LIC-X,Xena,Roe,x@clinic.test,,Cardiology,CARD,true"
NEW = "LIC-N,Ned,Poe,n@clinic.test,,Neurology,CARD,true"


@pytest.fixture
def card():
    return DepartmentFactory(code="CARD", name="Cardiology")


@pytest.fixture
def doctor_x(card):
    doctor = DoctorFactory(
        license_number="LIC-X",
        first_name="Xena",
        last_name="Roe",
        email="x@clinic.test",
        phone="",
        specialty="cardiology",
    )
    Membership.objects.create(doctor=doctor, department=card, is_primary=True)
    return doctor


def run_page(client, run, **query):
    url = reverse("admin:doctors_doctor_import_run", args=[run.pk])
    return client.get(url, query)


class TestConfirmAppliesWhatWasPreviewed:
    def test_a_head_handed_over_in_the_file_is_not_taken_for_a_change(
        self, staff_client, doctor_x, card
    ):
        """The importer demotes the heads a file hands over before it writes;
        confirm still compares them with the head role the preview saw."""
        Membership.objects.filter(doctor=doctor_x).update(role="head")
        handover = "LIC-X,Xena,Roe,x@clinic.test,,Cardiology,,true"
        new_head = "LIC-N,Ned,Poe,n@clinic.test,,Neurology,CARD:head,true"
        upload(staff_client, csv_bytes(handover, new_head))
        run = ImportRun.objects.get()

        confirm(staff_client, run)

        run.refresh_from_db()
        assert (run.status, run.error_count) == ("succeeded", 0)
        head = Membership.objects.get(department=card, role="head")
        assert head.doctor.license_number == "LIC-N"

    def test_a_row_edited_since_the_preview_stops_the_confirm(
        self, staff_client, doctor_x
    ):
        """Finding 4: X was unchanged in the preview; someone edits X's email;
        confirm must not put the old email back."""
        upload(staff_client, csv_bytes(X, NEW))
        run = ImportRun.objects.get()
        assert (run.created, run.unchanged) == (1, 1)
        Doctor.objects.filter(pk=doctor_x.pk).update(email="new-x@clinic.test")
        before = snapshot()

        response = confirm(staff_client, run)

        assert response["Location"] == reverse(
            "admin:doctors_doctor_import_run", args=[run.pk]
        )
        (message,) = get_messages(response.wsgi_request)
        assert "1 row(s) of doctors.csv changed in the database" in str(message)
        assert snapshot() == before
        doctor_x.refresh_from_db()
        assert doctor_x.email == "new-x@clinic.test"
        run.refresh_from_db()
        assert (run.status, run.created, run.error_count) == ("failed", 0, 1)
        assert run.errors == [
            [
                2,
                "license_number",
                "LIC-X changed in the database since the preview (or was added or "
                "deleted); preview the file again to see what the import would do "
                "now",
            ]
        ]
        assert not ActivityEvent.objects.filter(verb="imported").exists()

        page = run_page(staff_client, run).content.decode()
        assert "Preview again" in page
        response = staff_client.post(
            reverse("admin:doctors_doctor_import_preview_again", args=[run.pk]),
            follow=True,
        )
        again = response.context["run"]
        assert (again.pk != run.pk, again.status, again.updated) == (
            True,
            "previewed",
            1,
        )
        assert "Email</strong>: new-x@clinic.test → x@clinic.test" in (
            response.content.decode()
        )
        run.refresh_from_db()
        assert run.content == b""

    def test_a_membership_changed_since_the_preview_stops_the_confirm(
        self, staff_client, doctor_x
    ):
        upload(staff_client, csv_bytes(X))
        run = ImportRun.objects.get()
        neur = DepartmentFactory(code="NEUR")
        Membership.objects.create(doctor=doctor_x, department=neur)
        # The preview said "nothing to import"; make it confirmable by hand
        # to show the check itself, not the page, refuses it.
        ImportRun.objects.filter(pk=run.pk).update(updated=1)
        run.refresh_from_db()
        outcome = service.confirm(run, run.user)
        assert outcome.result.stale_rows == 1
        assert doctor_x.memberships.count() == 2

    def test_a_doctor_added_since_the_preview_stops_the_confirm(
        self, staff_client, card
    ):
        upload(staff_client, csv_bytes(NEW))
        run = ImportRun.objects.get()
        DoctorFactory(license_number="LIC-N", email="other@clinic.test")
        confirm(staff_client, run)
        run.refresh_from_db()
        assert run.status == "failed"
        assert run.errors[0][:2] == [2, "license_number"]
        assert Doctor.objects.get(license_number="LIC-N").email == "other@clinic.test"

    def test_changes_elsewhere_do_not_stop_the_confirm(self, staff_client, doctor_x):
        upload(staff_client, csv_bytes(X, NEW))
        run = ImportRun.objects.get()
        DoctorFactory(license_number="LIC-OTHER").delete()
        DoctorFactory(license_number="LIC-ELSE", first_name="Untouched")
        confirm(staff_client, run)
        run.refresh_from_db()
        assert (run.status, run.created, run.unchanged) == ("succeeded", 1, 1)

    def test_departments_changed_since_the_preview(self, staff_client):
        DepartmentFactory(code="ICU", name="Intensive care", description="")
        header = "code,name,description,is_active"
        url = reverse("admin:doctors_department_import")
        upload(
            staff_client,
            csv_bytes("ICU,Intensive care,,", "ER,Emergency,,", header=header),
            url=url,
        )
        run = ImportRun.objects.get()
        Department.objects.filter(code="ICU").update(description="Floor 3")
        confirm(staff_client, run, model="department")
        run.refresh_from_db()
        assert (run.status, run.errors[0][:2]) == ("failed", [2, "code"])
        assert not Department.objects.filter(code="ER").exists()

    def test_a_large_file_is_checked_in_the_worker_too(
        self, staff_client, doctor_x, settings, monkeypatch
    ):
        settings.IMPORT_BACKGROUND_ROWS = 1
        upload(staff_client, csv_bytes(X, NEW))
        run_worker(monkeypatch)
        run = ImportRun.objects.get()
        assert run.status == "previewed"
        confirm(staff_client, run)
        Doctor.objects.filter(pk=doctor_x.pk).update(first_name="Xavier")
        run_worker(monkeypatch)
        run.refresh_from_db()
        assert (run.status, run.counts) == ("failed", {"changed_since_preview": 1})
        assert not Doctor.objects.filter(license_number="LIC-N").exists()


class TestClaim:
    def test_of_two_confirms_one_runs_and_the_other_is_told(
        self, staff_client, clinic_staff, card
    ):
        """Finding 5: the second confirm neither runs nor overwrites the record."""
        upload(staff_client, csv_bytes(NEW))
        run = ImportRun.objects.get()
        stale_copy = ImportRun.objects.get(pk=run.pk)
        first = service.confirm(run, clinic_staff)
        second = service.confirm(stale_copy, clinic_staff)
        assert first.result.ok and first.result.created == 1
        assert second.result is None
        when = moment_text(second.run.finished_at)
        assert second.refusal == (
            f"doctors.csv was already imported by staff-user at {when} "
            f"(import #{run.pk}); nothing more was done."
        )
        run.refresh_from_db()
        assert (run.status, run.created) == ("succeeded", 1)
        assert ActivityEvent.objects.filter(verb="imported").count() == 1

    def test_a_confirm_while_the_run_is_running_is_told_so(
        self, staff_client, clinic_staff, card
    ):
        upload(staff_client, csv_bytes(NEW))
        run = ImportRun.objects.get()
        # What another request's claim leaves until its import finishes.
        claimed_at = timezone.now()
        ImportRun.objects.filter(pk=run.pk).update(
            status="running", dry_run=False, claimed_at=claimed_at
        )
        response = confirm(staff_client, run)
        (message,) = get_messages(response.wsgi_request)
        assert str(message) == (
            "doctors.csv is already being imported (confirmed by staff-user at "
            f"{moment_text(claimed_at)}); nothing more was done."
        )
        assert not Doctor.objects.exists()

    def test_the_worker_claims_a_queued_run_once(self, staff_client, card, settings):
        settings.IMPORT_BACKGROUND_ROWS = 0
        upload(staff_client, csv_bytes(NEW))
        run = ImportRun.objects.get()
        assert run.status == "queued"
        assert service.execute_queued(run.pk).startswith("Dry run of doctors.csv")
        assert service.execute_queued(run.pk) == (
            f"Import run {run.pk} is previewed; nothing to do."
        )
        run.refresh_from_db()
        assert (run.status, run.created) == ("previewed", 1)


class TestWhereItRuns:
    @pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"])
    def test_rows_are_counted_whatever_the_line_ending(
        self, staff_client, card, settings, ending
    ):
        """Finding 8: a CR-only file above the threshold goes to the worker."""
        settings.IMPORT_BACKGROUND_ROWS = 5
        rows = [f"LIC-{n},Ned,Poe,n{n}@clinic.test,,Neurology,CARD," for n in range(10)]
        data = csv_bytes(*rows).replace(b"\r\n", ending)
        upload(staff_client, data)
        run = ImportRun.objects.get()
        assert (run.status, run.dry_run) == ("queued", True)
        assert service.estimated_rows(data) == 11


class TestClearingUp:
    def test_stuck_runs_fail_and_stale_bytes_are_dropped(self, clinic_staff):
        now = timezone.now()
        hours = datetime.timedelta(hours=1)

        def make(status, *, age, claimed=None, **fields):
            return ImportRun.objects.create(
                kind="doctors",
                status=status,
                source="admin",
                file_name=f"{status}.csv",
                user=clinic_staff,
                started_at=now - age,
                claimed_at=claimed,
                content=b"bytes",
                seen=b"12345678",
                **fields,
            )

        old_preview = make("previewed", age=30 * hours)
        fresh_preview = make("previewed", age=hours)
        refused = make("failed", age=30 * hours, counts={"changed_since_preview": 1})
        stuck = make("running", age=5 * hours, claimed=now - 3 * hours)
        busy = make("running", age=5 * hours, claimed=now - hours / 2)

        assert service.sweep(now=now) == {"purged": 2, "failed": 1}

        for run in (old_preview, fresh_preview, refused, stuck, busy):
            run.refresh_from_db()
        assert (old_preview.content, old_preview.seen) == (b"", b"")
        assert refused.content == b""
        assert fresh_preview.content == b"bytes"
        assert (stuck.status, stuck.content, stuck.error_count) == ("failed", b"", 1)
        assert "process was stopped" in stuck.errors[0][2]
        assert (busy.status, busy.content) == ("running", b"bytes")

    def test_the_worker_loop_sweeps_on_a_schedule(self, monkeypatch):
        calls = []
        monkeypatch.setattr(service, "sweep", lambda: calls.append(1))
        worker = HeartbeatWorker(
            queue_names=["default"],
            interval=1,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="sweeper",
            excluded_queue_names=[],
        )
        assert worker.running and worker.running
        # Once at start, then not again before IMPORT_SWEEP_SECONDS.
        assert calls == [1]


class TestWhoSeesWhat:
    def test_an_importer_sees_only_their_own_runs(self, client, staff_client, card):
        """Finding 9: another importer's preview and progress are not theirs."""
        upload(staff_client, csv_bytes(NEW))
        run = ImportRun.objects.get()
        other = UserFactory(groups=["Clinic staff"])
        client.force_login(other)
        for name in ["import_run", "import_progress"]:
            url = reverse(f"admin:doctors_doctor_{name}", args=[run.pk])
            assert client.get(url).status_code == 404
        log = client.get(reverse("admin:doctors_importrun_changelist"))
        assert log.context["cl"].result_count == 0

    def test_a_superuser_sees_every_run(self, client, staff_client, superuser, card):
        upload(staff_client, csv_bytes(NEW))
        run = ImportRun.objects.get()
        client.force_login(superuser)
        assert run_page(client, run).status_code == 200
        log = client.get(reverse("admin:doctors_importrun_changelist"))
        assert log.context["cl"].result_count == 1
        # Seeing is not confirming: only the uploader imports.
        outcome = service.confirm(run, superuser)
        assert outcome.refusal and not Doctor.objects.exists()

    def test_import_needs_the_change_permission_too(self, client, card):
        from django.contrib.auth.models import Permission

        user = UserFactory()
        user.user_permissions.set(
            Permission.objects.filter(codename__in=["import_doctor", "view_doctor"])
        )
        client.force_login(user)
        response = upload(client, csv_bytes(NEW))
        assert response.status_code == 403
        assert not ImportRun.objects.exists()


class TestBoundedPages:
    def test_changes_and_problems_are_listed_a_page_at_a_time(self, staff_client, card):
        rows = [
            f"LIC-{n},Ned,Poe,n{n}@clinic.test,,Neurology,CARD," for n in range(120)
        ]
        upload(staff_client, csv_bytes(*rows))
        run = ImportRun.objects.get()
        response = run_page(staff_client, run)
        page = response.content.decode()
        assert page.count('<tr class="csv-new">') == 50
        assert "Page 1 of 3 (1–50 of 120)" in page
        page = run_page(staff_client, run, changes=3).content.decode()
        assert page.count('<tr class="csv-new">') == 20
        assert ">LIC-119<" in page and ">LIC-0<" not in page

        bad = [f"LIC-{n},Ned,Poe,bad,,Neurology,CARD," for n in range(1500)]
        upload(staff_client, csv_bytes(*bad))
        run = ImportRun.objects.latest("pk")
        page = run_page(staff_client, run, problems=20).content.decode()
        assert page.count("Enter a valid email address.") == 50
        assert "Page 20 of 20" in page
        assert "… and 500 more, not listed: the first 1,000 are kept." in page


def test_the_importer_does_not_reach_up_into_the_admin():
    """The admin calls the importer and the run service, never the other way
    round."""
    from doctors import importing

    packages = [
        pathlib.Path(importing.__file__).parent,
        pathlib.Path(service.__file__).parent,
    ]
    for path in (p for package in packages for p in package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                assert "admin" not in module.split("."), (path.name, module)


def test_the_stored_file_round_trips_every_byte(clinic_staff):
    """storage.py: binary transfer on PostgreSQL, the ORM elsewhere."""
    from doctors.importing import storage

    data = bytes(range(256)) * 1000
    run = ImportRun.objects.create(kind="doctors", status="queued", source="admin")
    storage.store(run.pk, data)
    assert storage.load(run.pk) == data
    run.refresh_from_db()
    assert bytes(run.content) == data
