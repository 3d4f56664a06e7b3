"""Deleting selected doctors or departments (doctors/admin/bulk_delete.py)."""

import pytest
from django.urls import reverse

from doctors.models import ActivityEvent, ChangeSet, Department, Doctor, Membership
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.django_db

DOCTORS_URL = reverse("admin:doctors_doctor_changelist")
DEPARTMENTS_URL = reverse("admin:doctors_department_changelist")


@pytest.fixture
def root_client(client, superuser):
    # Only superusers delete doctors and departments.
    client.force_login(superuser)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def delete(client, url, objects, **extra):
    data = {
        "action": "delete_selected",
        "_selected_action": [obj.pk for obj in objects],
        "index": "0",
        **extra,
    }
    return client.post(url, data, follow=True)


def test_deleting_doctors_asks_first_naming_them_and_their_memberships(
    root_client,
):
    ann = DoctorFactory(first_name="Ann", last_name="Lee", license_number="LIC-1")
    bo = DoctorFactory(first_name="Bo", last_name="Sun")
    MembershipFactory(doctor=ann)
    response = delete(root_client, DOCTORS_URL, [ann, bo])
    page = response.content.decode()
    assert response.templates[0].name == "admin/doctors/confirm_destroy.html"
    assert "Delete 2 doctors?" in page
    assert "Dr Ann Lee — LIC-1" in page
    assert "Their 1 department membership goes with them." in page
    assert 'name="change_reason"' in page
    assert Doctor.objects.count() == 2


def test_the_page_lists_fifty_names_and_counts_the_rest(root_client):
    departments = DepartmentFactory.create_batch(53)
    page = delete(root_client, DEPARTMENTS_URL, departments).content.decode()
    assert page.count("<li>") - page.count('<li class="more">') >= 50
    assert "and 3 more" in page
    assert "Delete 53 departments?" in page


def test_confirming_deletes_with_the_reason_on_the_change_set(root_client):
    ann = DoctorFactory(first_name="Ann", last_name="Lee")
    bo = DoctorFactory(first_name="Bo", last_name="Sun")
    MembershipFactory(doctor=ann)
    response = delete(
        root_client, DOCTORS_URL, [ann, bo], post="yes", change_reason="Duplicates"
    )
    assert messages_of(response) == ["Deleted 2 doctors: Dr Ann Lee, Dr Bo Sun."]
    assert not Doctor.objects.exists() and not Membership.objects.exists()
    change_set = ChangeSet.objects.get(reason="Duplicates")
    assert change_set.description == "Deleted 2 doctors"
    assert ActivityEvent.objects.filter(change_set=change_set).exists()


def test_a_second_confirmation_says_what_was_already_deleted(root_client):
    cardiology = DepartmentFactory(name="Cardiology")
    delete(root_client, DEPARTMENTS_URL, [cardiology], post="yes")
    events = ActivityEvent.objects.count()
    response = delete(root_client, DEPARTMENTS_URL, [cardiology], post="yes")
    assert messages_of(response) == ["Already deleted: Cardiology."]
    assert ActivityEvent.objects.count() == events


def test_too_many_at_once_is_refused(root_client, monkeypatch):
    from doctors.admin import bulk_delete

    monkeypatch.setattr(bulk_delete, "DELETE_LIMIT", 2)
    departments = DepartmentFactory.create_batch(3)
    response = delete(root_client, DEPARTMENTS_URL, departments, post="yes")
    assert messages_of(response) == [
        "Nothing was deleted: select at most 2 departments at a time (narrow the "
        "list with the search or the filters)."
    ]
    assert Department.objects.count() == 3


def test_clinic_staff_cannot_delete_doctors(staff_client):
    doctor = DoctorFactory()
    delete(staff_client, DOCTORS_URL, [doctor], post="yes")
    assert Doctor.objects.filter(pk=doctor.pk).exists()
