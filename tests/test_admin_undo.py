"""Undo from the run's page (doctors/admin/undo.py) and the change-set pages
(doctors/admin/changesets.py): preview, confirm, refusal, background run,
the feed and History pages showing and filtering by change-set."""

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags

from doctors import undo
from doctors.context import acting_as
from doctors.models import (
    ActivityEvent,
    ChangeSet,
    Doctor,
    ImportRun,
    WelcomeEmailFailure,
)
from tests.test_admin_csv import run_worker, upload
from tests.test_undo import DAMAGE, build_clinic, state

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clinic")]


@pytest.fixture
def clinic():
    return build_clinic()


def imported(client) -> ImportRun:
    """DAMAGE imported through the admin by the client's user, with a reason."""
    upload(client, DAMAGE)
    run = ImportRun.objects.latest("pk")
    client.post(
        reverse("admin:doctors_doctor_import_confirm", args=[run.pk]),
        {"change_reason": "Monthly roster"},
    )
    run.refresh_from_db()
    assert run.status == "succeeded"
    return run


def confirm_undo(client, undo_url: str, data: dict | None = None):
    """Post the undo page's form as a browser does: with the status row of the
    preview it shows (the page's hidden "attempt" field)."""
    page = client.get(undo_url)
    attempt = page.context["attempt"].pk
    return client.post(undo_url, {**(data or {}), "attempt": attempt})


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_preview_then_confirm_undoes_as_one_change_set(staff_client):
    before = state()
    run = imported(staff_client)
    assert run.change_set.reason == "Monthly roster"
    after = state()
    undo_url = reverse("admin:doctors_importrun_undo", args=[run.pk])

    run_page = staff_client.get(
        reverse("admin:doctors_importrun_change", args=[run.pk])
    )
    assert undo_url in run_page.content.decode()
    assert "Undo this import" in run_page.content.decode()
    # The import's own result page is the same one page.
    import_page = staff_client.get(
        reverse("admin:doctors_doctor_import_run", args=[run.pk]), follow=True
    )
    assert import_page.redirect_chain[-1][0] == reverse(
        "admin:doctors_importrun_change", args=[run.pk]
    )
    assert undo_url in import_page.content.decode()

    page = staff_client.get(undo_url)
    assert page.status_code == 200
    preview = page.context["preview"]
    assert preview.counts["doctor"] == {"delete": 1, "update": 2}
    body = page.content.decode()
    assert "LIC-NEW" in body and "Confirm undo" in body
    assert "<strong>Phone</strong>: 999 → 111" in body
    assert "<strong>Role</strong>: Member → Head of department" in body
    assert "<strong>Primary department</strong>: Yes → No" in body
    # Records are named, never numbered; the welcome email cannot be unsent.
    assert "Membership: Dr " in body and "#" not in strip_tags(body)
    assert "1 welcome email was already sent" in body
    assert 'name="change_reason"' in body
    assert state() == after

    response = confirm_undo(staff_client, undo_url, {"change_reason": "Wrong file"})
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:doctors_importrun_change", args=[run.pk]
    )
    assert messages_of(response) == [
        f"Undid import #{run.pk} (doctors.csv): memberships: 2 deleted, "
        "2 restored, 2 created again; doctors: 1 deleted, 2 restored."
    ]
    assert state() == before
    event = ActivityEvent.objects.latest("pk")
    assert event.target_text == f"Undid import #{run.pk}"
    assert event.change_set.reason == "Wrong file"

    run_page = staff_client.get(
        reverse("admin:doctors_importrun_change", args=[run.pk])
    )
    assert "Redo this import" in run_page.content.decode()
    assert "Undone (<a href=" in run_page.content.decode()
    # The redo names the doctor the undo deleted, from its history.
    redo = staff_client.get(undo_url).content.decode()
    assert "Confirm redo" in redo and "LIC-NEW) in " in redo
    assert "doctor #" not in redo and "welcome email" not in redo
    response = confirm_undo(staff_client, undo_url, {})
    assert response.status_code == 302, messages_of(response)
    assert state() == after


def test_a_later_edit_refuses_then_untouched_only_undoes_the_rest(
    staff_client, superuser
):
    run = imported(staff_client)
    with acting_as(superuser, source="admin"):
        ann = Doctor.objects.get(license_number="LIC-ANN")
        ann.phone = "555"
        ann.save()
    now = state()
    undo_url = reverse("admin:doctors_importrun_undo", args=[run.pk])

    page = staff_client.get(undo_url)
    body = page.content.decode()
    assert 'id="undo-conflicts"' in body and "LIC-ANN" in body
    assert "Undo only the untouched records" in body

    refused = confirm_undo(staff_client, undo_url, {})
    assert refused.status_code == 200
    assert "nothing was changed" in refused.content.decode()
    assert state() == now

    done = confirm_undo(staff_client, undo_url, {"untouched_only": "on"})
    assert done.status_code == 302
    assert Doctor.objects.get(license_number="LIC-ANN").phone == "555"
    assert not Doctor.objects.filter(license_number="LIC-NEW").exists()


def test_someone_elses_run_is_not_undone_by_clinic_staff(staff_client, superuser):
    client = Client()
    client.force_login(superuser)
    run = imported(client)
    undo_url = reverse("admin:doctors_importrun_undo", args=[run.pk])
    assert staff_client.get(undo_url).status_code == 403
    assert staff_client.post(undo_url, {}).status_code == 403
    page = staff_client.get(reverse("admin:doctors_importrun_change", args=[run.pk]))
    assert undo_url not in page.content.decode()
    assert Doctor.objects.filter(license_number="LIC-NEW").exists()


def test_a_large_run_is_undone_in_the_worker_with_progress(
    staff_client, settings, monkeypatch
):
    before = state()
    run = imported(staff_client)
    settings.IMPORT_BACKGROUND_ROWS = 2
    undo_url = reverse("admin:doctors_importrun_undo", args=[run.pk])
    progress_url = reverse("admin:doctors_importrun_undo_progress", args=[run.pk])

    response = confirm_undo(staff_client, undo_url, {"change_reason": "Too big"})
    assert response["Location"] == undo_url
    assert Doctor.objects.filter(license_number="LIC-NEW").exists()
    page = staff_client.get(undo_url).content.decode()
    assert 'id="import-progress"' in page and "import_progress.js" in page
    assert staff_client.get(progress_url).json()["finished"] is False

    run_worker(monkeypatch)

    assert state() == before
    data = staff_client.get(progress_url).json()
    assert data["finished"] and data["done"] == data["total"] > 0
    response = staff_client.get(undo_url)
    assert response.status_code == 302
    assert messages_of(response)[0].startswith(f"Undid import #{run.pk}")
    assert ChangeSet.objects.latest("pk").reason == "Too big"


def test_feed_and_history_show_and_filter_by_change_set(staff_client):
    run = imported(staff_client)
    result = undo.undo_import(run, user=None)
    feed = reverse("admin:doctors_activityevent_changelist")

    page = staff_client.get(feed + f"?change_set={result.change_set.pk}")
    events = list(page.context["cl"].result_list)
    assert [e.target_text for e in events] == [f"Undid import #{run.pk}"]
    link = reverse("admin:doctors_changeset_change", args=[result.change_set.pk])
    assert link in page.content.decode()

    ann = Doctor.objects.get(license_number="LIC-ANN")
    history = reverse("admin:doctors_doctor_history", args=[ann.pk])
    page = staff_client.get(history)
    body = page.content.decode()
    assert "Change-set" in body and link in body
    filtered = staff_client.get(history + f"?change_set={run.change_set_id}")
    records = list(filtered.context["page_obj"].object_list)
    assert [r.change_set_id for r in records] == [run.change_set_id]
    assert {e.change_set_id for e in filtered.context["membership_events"]} <= {
        run.change_set_id
    }


def test_a_change_sets_page_lists_what_it_did(staff_client):
    run = imported(staff_client)
    page = staff_client.get(
        reverse("admin:doctors_changeset_change", args=[run.change_set_id])
    )
    assert page.status_code == 200
    body = page.content.decode()
    assert "Monthly roster" in body and "Import of doctors.csv" in body
    assert 'id="change-set-doctor"' in body and 'id="change-set-membership"' in body
    assert "Dr Cy New" in body
    assert [s["model_name"] for s in page.context["history_sections"]] == [
        "doctor",
        "membership",
    ]
    assert len(page.context["events"]) == 1


def test_a_reason_typed_on_a_change_form_names_the_change_set(staff_client):
    page = staff_client.get(reverse("admin:doctors_department_add"))
    assert 'name="change_reason"' in page.content.decode()
    staff_client.post(
        reverse("admin:doctors_department_add"),
        {
            "code": "ER",
            "name": "Emergency",
            "is_active": "on",
            "change_reason": "New wing",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    change_set = ChangeSet.objects.latest("pk")
    assert change_set.reason == "New wing"
    assert change_set.description == "Added department “Emergency”"


class TestCommand:
    def test_dry_run_then_undo(self, superuser, capsys):
        import io

        from doctors.importing.runner import import_doctors

        before = state()
        run = import_doctors(
            io.BytesIO(DAMAGE), file_name="doctors.csv", user=superuser
        ).run
        after = state()
        call_command("undo_import", str(run.pk), "--dry-run")
        out = capsys.readouterr().out
        assert "would change" in out and "LIC-NEW" in out
        assert state() == after
        call_command("undo_import", str(run.pk), "--user", superuser.username)
        assert state() == before
        change_set = ChangeSet.objects.latest("pk")
        assert change_set.source == "command" and change_set.actor == superuser

    def test_refusal_exits_non_zero_naming_the_records(self, superuser):
        import io

        from django.core.management.base import CommandError

        from doctors.importing.runner import import_doctors

        run = import_doctors(
            io.BytesIO(DAMAGE), file_name="doctors.csv", user=superuser
        ).run
        with acting_as(superuser, source="admin"):
            ann = Doctor.objects.get(license_number="LIC-ANN")
            ann.phone = "555"
            ann.save()
        now = state()
        with pytest.raises(CommandError, match="1 record was changed afterwards"):
            call_command("undo_import", str(run.pk))
        assert state() == now
        call_command("undo_import", str(run.pk), "--only-untouched")
        assert Doctor.objects.get(license_number="LIC-ANN").phone == "555"

    def test_an_unknown_run(self):
        from django.core.management.base import CommandError

        with pytest.raises(CommandError, match="No import run #999"):
            call_command("undo_import", "999")


def test_a_welcome_email_that_failed_is_not_counted_as_sent(staff_client):
    run = imported(staff_client)
    undo_url = reverse("admin:doctors_importrun_undo", args=[run.pk])
    assert (
        "1 welcome email was already sent"
        in staff_client.get(undo_url).content.decode()
    )
    WelcomeEmailFailure.objects.create(
        doctor=Doctor.objects.get(license_number="LIC-NEW"), reason="No such mailbox"
    )
    page = staff_client.get(undo_url).content.decode()
    assert "welcome email" not in page
    assert "Confirm undo" in page
