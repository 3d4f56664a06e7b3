"""Membership periods' import and export pages on the membership list
(doctors/admin/membership_files.py): preview, confirm, the run's page, undo,
a refused file naming its rows, the export, and who may use them."""

import datetime
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from doctors.importing.memberships.runner import import_memberships
from doctors.models import ActivityEvent, ImportRun, Membership
from tests.test_admin_undo import confirm_undo, messages_of
from tests.test_membership_files import HEADER, build_clinic, periods

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:doctors_membership_import")
EXPORT_URL = reverse("admin:doctors_membership_export")
LIST_URL = reverse("admin:doctors_membership_changelist")
D = datetime.date
CORRECTION = (
    HEADER
    + "B-2,CARD,member,false,2023-01-01,2024-12-31\n"
    + "B-2,NEUR,member,true,2025-01-01,\n"
)


@pytest.fixture
def clinic():
    return build_clinic()


def upload(client, text: str, name: str = "periods.csv"):
    return client.post(
        IMPORT_URL,
        {"file": SimpleUploadedFile(name, text.encode(), "text/csv")},
        follow=True,
    )


def test_the_list_links_to_import_and_export_and_the_form_says_how_rows_match(
    staff_client, clinic
):
    page = staff_client.get(LIST_URL).content.decode()
    assert f'href="{IMPORT_URL}"' in page
    assert f'href="{EXPORT_URL}"' in page
    form = staff_client.get(IMPORT_URL).content.decode()
    assert "license number, department and first day (joined_on)" in form
    assert "To correct a period&#x27;s first day, edit the period in the admin." in form
    assert "corrected in the admin, not by a file" in form
    assert "license_number, department, role, primary, joined_on, left_on" in form


def test_preview_confirm_then_undo_from_the_run_page(staff_client, clinic):
    before = periods()
    response = upload(staff_client, CORRECTION)
    run = response.context["run"]
    assert (run.kind, run.status) == ("memberships", "previewed")
    assert (run.created, run.updated, run.unchanged) == (1, 1, 0)
    page = response.content.decode()
    assert "B-2 in CARD from 2023-01-01" in page
    assert "<strong>Last day</strong>: — → 31 Dec 2024" in page
    assert "<strong>Primary department</strong>: yes</div>" in page
    assert "Confirm import" in page
    assert periods() == before

    confirmed = staff_client.post(
        reverse("admin:doctors_membership_import_confirm", args=[run.pk]),
        {"change_reason": "Roster fix"},
        follow=True,
    )
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.change_set.reason == "Roster fix"
    assert any("created 1, updated 1, 0 unchanged" in m for m in messages_of(confirmed))
    assert periods() == [
        ("A-1", "CARD", "head", True, D(2020, 1, 1), None),
        ("B-2", "CARD", "member", False, D(2019, 1, 1), D(2021, 6, 30)),
        ("B-2", "CARD", "member", False, D(2023, 1, 1), D(2024, 12, 31)),
        ("B-2", "NEUR", "member", True, D(2025, 1, 1), None),
    ]
    run_page = confirmed.content.decode()
    assert "1 period added, 1 changed, 0 unchanged" in run_page
    assert "B-2 in NEUR from 2025-01-01" in run_page
    assert ActivityEvent.objects.filter(
        verb=ActivityEvent.Verb.IMPORTED, target_type="membership"
    ).exists()
    feed = staff_client.get(reverse("admin:doctors_activityevent_changelist"))
    assert "Import of periods.csv: 2 rows; created 1, updated 1" in (
        feed.content.decode()
    )

    # A second confirm of the same page imports nothing more.
    again = staff_client.post(
        reverse("admin:doctors_membership_import_confirm", args=[run.pk]),
        follow=True,
    )
    assert any("was already imported" in m for m in messages_of(again))
    assert Membership.objects.count() == 4

    undo_url = reverse("admin:doctors_importrun_undo", args=[run.pk])
    preview = staff_client.get(undo_url)
    assert preview.status_code == 200
    # Dr Ben Baker has two other periods in Cardiology: no conflict.
    assert not preview.context["preview"].conflicts
    confirm_undo(staff_client, undo_url)
    assert periods() == before


def test_a_refused_file_names_its_rows_and_writes_nothing(staff_client, clinic):
    before = periods()
    history = Membership.history.count()
    response = upload(
        staff_client,
        HEADER
        + "A-1,NEUR,member,false,2021-01-01,\n"
        + "B-2,CARD,head,false,2023-01-01,\n"
        + "Z-9,CARD,member,false,2023-01-01,\n",
    )
    run = response.context["run"]
    assert run.status == "previewed"
    # The rules are checked once every row is clean.
    assert run.error_count == 1
    page = response.content.decode()
    assert "Confirm import" not in page
    assert "no doctor has the license number" in page
    assert "Z-9" in page
    refused = staff_client.post(
        reverse("admin:doctors_membership_import_confirm", args=[run.pk]),
        follow=True,
    )
    assert any("has problems" in m for m in messages_of(refused))
    assert periods() == before
    assert Membership.history.count() == history
    # Without the unknown doctor, the head rule names row 3 and the stored head.
    response = upload(
        staff_client, HEADER + "B-2,CARD,head,false,2023-01-01,\n", "p.csv"
    )
    problems = [
        (p["row"], p["column"], p["message"]) for p in response.context["problems"]
    ]
    assert problems == [
        (
            2,
            "role",
            "CARD would have two heads on some days: this period (from 1 Jan 2023) "
            "overlaps doctor A-1's as head, the stored period from 1 Jan 2020, "
            "which this file leaves as it is",
        )
    ]
    assert periods() == before


@pytest.mark.parametrize("file_format", ["csv", "xlsx", "ods", "json", "tsv"])
def test_the_export_imports_back_unchanged(staff_client, clinic, file_format):
    response = staff_client.get(EXPORT_URL, {"file_format": file_format})
    assert response.status_code == 200
    assert f".{file_format}" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    result = import_memberships(io.BytesIO(content), file_name=f"p.{file_format}")
    assert result.ok, result.problems
    assert (result.created, result.updated, result.unchanged) == (0, 0, 3)


def test_the_export_page_offers_the_formats(staff_client, clinic):
    page = staff_client.get(EXPORT_URL).content.decode()
    assert "Every membership period, ended ones too" in page
    assert 'value="ods"' in page


def test_managers_export_but_do_not_import(client, manager, clinic):
    client.force_login(manager)
    assert client.get(IMPORT_URL).status_code == 403
    assert client.get(EXPORT_URL, {"file_format": "csv"}).status_code == 200
    page = client.get(LIST_URL).content.decode()
    assert f'href="{IMPORT_URL}"' not in page


def test_staff_without_a_role_may_do_neither(client, staff_without_role, clinic):
    client.force_login(staff_without_role)
    assert client.get(IMPORT_URL).status_code == 403
    assert client.get(EXPORT_URL).status_code == 403
    assert not ImportRun.objects.exists()


def test_a_large_file_is_previewed_and_imported_in_the_worker(
    staff_client, clinic, settings, monkeypatch
):
    from tests.test_admin_csv import run_worker

    settings.IMPORT_BACKGROUND_ROWS = 1
    response = upload(staff_client, CORRECTION)
    run = ImportRun.objects.get()
    assert run.status == "queued"
    run_worker(monkeypatch)
    run.refresh_from_db()
    assert (run.status, run.created, run.updated) == ("previewed", 1, 1)
    staff_client.post(reverse("admin:doctors_membership_import_confirm", args=[run.pk]))
    run_worker(monkeypatch)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert ("B-2", "NEUR", "member", True, D(2025, 1, 1), None) in periods()
    assert response.status_code == 200
