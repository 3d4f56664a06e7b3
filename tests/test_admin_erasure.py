"""The doctor list's "Erase personal data" action (doctors/admin/erasure.py)."""

import pytest
from django.urls import reverse

from doctors.context import acting_as
from doctors.models import ActivityEvent, Doctor, Erasure
from tests.factories import DoctorFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:doctors_doctor_changelist")


@pytest.fixture
def doctor(settings, tmp_path):
    settings.ERASURE_REPLAY_FILE = str(tmp_path / "erasures.jsonl")
    with acting_as(description="set-up"):
        return DoctorFactory(first_name="Philippa", last_name="Nightingale")


def _action(client, doctor, **extra):
    return client.post(
        URL,
        {"action": "erase_personal_data", "_selected_action": [doctor.pk], **extra},
    )


def test_the_action_asks_for_a_reason_then_erases(client, superuser, doctor):
    client.force_login(superuser)
    page = _action(client, doctor)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Dr Philippa Nightingale" in html and "cannot be undone" in html
    assert not Erasure.objects.exists()
    again = _action(client, doctor, post="yes", erasure_reason="  ")
    assert "Give the reason for the erasure." in again.content.decode()
    assert not Erasure.objects.exists()
    done = _action(client, doctor, post="yes", erasure_reason="Left in 2019")
    assert done.status_code == 302
    assert Doctor.objects.get(pk=doctor.pk).first_name == "Erased doctor"
    event = ActivityEvent.objects.get(verb="erased")
    assert event.change_set.reason == "Left in 2019"
    assert event.actor_name == superuser.username
    listed = client.get(done.url).content.decode()
    assert f"Personal data erased: Erased doctor #{doctor.pk}." in listed
    assert "Nightingale" not in listed


def test_staff_without_the_permission_do_not_see_the_action(
    staff_client, clinic_staff, doctor
):
    page = staff_client.get(URL)
    assert "erase_personal_data" not in page.content.decode()
    _action(staff_client, doctor, post="yes", erasure_reason="x")
    assert not Erasure.objects.exists()


def test_the_confirmation_page_sends_the_ids_back_unformatted(
    client, superuser, settings, tmp_path
):
    """Numbers on pages get thousands separators; the ids sent back must not."""
    settings.ERASURE_REPLAY_FILE = str(tmp_path / "erasures.jsonl")
    with acting_as(description="set-up"):
        doctor = DoctorFactory(id=12345)
    client.force_login(superuser)
    html = _action(client, doctor).content.decode()
    assert 'value="12345"' in html
    done = _action(client, doctor, post="yes", erasure_reason="Left")
    assert done.status_code == 302
    assert Erasure.objects.filter(doctor_id=12345).exists()
