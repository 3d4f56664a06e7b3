"""A record's history pages: the list of versions and one version's read-only
page, in the clinic's words."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from doctors.models import ChangeSet, Doctor
from tests.admin_forms import doctor_form
from tests.factories import DoctorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def retrained(staff_client):
    """A doctor whose specialty was changed from the admin with a reason typed."""
    doctor = DoctorFactory(first_name="Ada", last_name="Byron", specialty="cardiology")
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    data = doctor_form(
        doctor, specialty="internal_medicine", change_reason="Finished her residency"
    )
    assert staff_client.post(url, data).status_code == 302
    return doctor


def history_page(client, doctor) -> str:
    response = client.get(reverse("admin:doctors_doctor_history", args=[doctor.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_history_shows_the_reason_typed_and_choice_labels(staff_client, retrained):
    """The Reason column holds what the person typed, not the change-set's
    description; a changed choice reads as its labels; nothing reads "—"."""
    change_set = ChangeSet.objects.get(reason="Finished her residency")
    assert change_set.description  # the description exists, and is not shown as
    page = history_page(staff_client, retrained)
    table = page.split('id="change-history"')[1].split("</table>")[0]
    assert "Finished her residency" in table
    assert change_set.description not in table
    assert "Cardiology" in table and "Internal medicine" in table
    assert "internal_medicine" not in table
    assert "None" not in table
    assert "Change reason" not in table


def test_the_user_is_a_link_only_for_those_who_may_open_users(
    client, clinic_staff, superuser, retrained
):
    client.force_login(clinic_staff)
    page = history_page(client, retrained)
    user_url = reverse("admin:auth_user_change", args=[clinic_staff.pk])
    assert "staff-user" in page
    assert user_url not in page
    client.force_login(superuser)
    assert user_url in history_page(client, retrained)
    clinic_staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(clinic_staff)
    assert user_url in history_page(client, retrained)


def test_a_version_is_read_only_with_its_own_time_and_breadcrumbs(
    staff_client, retrained
):
    """The version page offers no field to edit and no save button, shows the
    time the version was recorded (not today's), and its breadcrumbs lead to
    the doctor's list, the doctor and the history."""
    version = retrained.history.earliest("history_date")
    recorded = timezone.now() - datetime.timedelta(days=40)
    type(version).objects.filter(pk=version.pk).update(history_date=recorded)
    url = reverse(
        "admin:doctors_doctor_simple_history",
        args=[retrained.pk, version.history_id],
    )
    response = staff_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    form = page.split('id="content-main"')[1]
    assert '<input type="text"' not in form
    assert "<select" not in form
    assert 'name="_save"' not in form
    fields = [
        field
        for fieldset in response.context["adminform"]
        for line in fieldset
        for field in line
    ]
    assert len(fields) >= 8 and all(field.is_readonly for field in fields)
    crumbs = page.split('class="breadcrumbs"')[1].split("</ol>")[0]
    assert "Historical" not in crumbs
    for link in [
        reverse("admin:doctors_doctor_changelist"),
        reverse("admin:doctors_doctor_change", args=[retrained.pk]),
        reverse("admin:doctors_doctor_history", args=[retrained.pk]),
    ]:
        assert f'href="{link}"' in crumbs
    # The version's own time, not the record's last change (today).
    recorded_text = date_format(timezone.localtime(recorded), "DATETIME_FORMAT")
    today_text = date_format(timezone.localdate(), "DATE_FORMAT")
    assert recorded_text in page.split("Recorded at")[1]
    assert today_text not in form.split("Created at")[0]
    assert Doctor.objects.get(pk=retrained.pk).specialty == "internal_medicine"
