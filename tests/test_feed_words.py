"""The feed and the change-sets speak the clinic's words: verbose names, choice
labels, counts in words, and change-sets named after what a person did."""

import datetime

import pytest
from django.contrib.admin.templatetags.admin_list import result_headers
from django.urls import reverse

from doctors import activity
from doctors.admin.changesets import rows_written
from doctors.admin.exports import ExportForm
from doctors.context import acting_as
from doctors.models import ActivityEvent, ChangeSet, Membership
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.django_db
Verb = ActivityEvent.Verb


def test_a_changed_choice_reads_as_its_labels():
    doctor = DoctorFactory(specialty="ophthalmology")
    doctor.specialty = "internal_medicine"
    doctor.save()
    event = ActivityEvent.objects.filter(verb=Verb.UPDATED).latest("pk")
    assert activity.summarize(event) == ("Specialty: Ophthalmology → Internal medicine")


def test_a_membership_change_names_its_fields_by_their_verbose_names():
    membership = MembershipFactory(
        department=DepartmentFactory(name="Cardiology"),
        joined_on=datetime.date(2026, 3, 1),
    )
    membership.joined_on = datetime.date(2026, 3, 2)
    membership.is_primary = True
    membership.save()
    event = ActivityEvent.objects.filter(verb=Verb.MEMBERSHIP_CHANGED).latest("pk")
    text = activity.summarize(event)
    assert text == (
        "Corrected in Cardiology: first day 1 Mar 2026 → 2 Mar 2026; "
        "primary department no → yes"
    )
    assert activity.verb_label(event) == "Corrected"


def test_counts_read_as_words():
    event = ActivityEvent(
        verb=Verb.UNDONE,
        counts={
            "import_run": 2,
            "file": "doctors.csv",
            "undoes": 8,
            "memberships_added": 4,
            "rows": 1200,
            "is_active": False,
        },
    )
    assert activity.summarize(event) == (
        "import #2, file doctors.csv, reverses change-set #8, "
        "4 memberships added, 1,200 rows, made inactive"
    )


def test_a_change_set_without_a_name_is_named_after_what_it_did(clinic_staff):
    cardiology = DepartmentFactory(name="Cardiology")
    doctors = DoctorFactory.create_batch(3)
    for doctor in doctors:
        MembershipFactory(doctor=doctor, department=cardiology)
    with acting_as(clinic_staff, source="admin") as change:
        cardiology.doctors.remove(*doctors)
    change_set = ChangeSet.objects.get(pk=change.change_set.pk)
    assert change_set.description == "Removed 3 doctors from Cardiology"
    assert Membership.objects.filter(department=cardiology).count() == 0


def test_a_request_that_removes_members_names_its_change_set(
    staff_client, clinic_staff
):
    """The admin's request path is never a change-set's name."""
    cardiology = DepartmentFactory(name="Cardiology")
    membership = MembershipFactory(department=cardiology)
    response = staff_client.post(
        reverse("admin:doctors_membership_delete", args=[membership.pk]),
        {"post": "yes"},
    )
    assert response.status_code == 302
    change_set = ChangeSet.objects.latest("pk")
    assert not change_set.description.startswith(("POST", "GET"))
    assert "/admin/" not in change_set.description


def test_the_feed_list_is_headed_in_words(client, superuser):
    DoctorFactory()
    client.force_login(superuser)
    response = client.get(reverse("admin:doctors_activityevent_changelist"))
    headers = [str(column["text"]) for column in result_headers(response.context["cl"])]
    assert headers == [
        "when",
        "who",
        "what happened",
        "doctor or department",
        "what changed",
        "change-set",
    ]


def test_a_change_set_lists_its_rows_in_words():
    assert rows_written({"doctor": 2000, "membership": 1, "events": 13}) == (
        "2,000 doctors, 1 membership, 13 feed events"
    )
    assert rows_written({}) == "—"


def test_export_columns_are_offered_by_their_verbose_names():
    choices = dict(ExportForm(model_name="doctor").fields["columns"].choices)
    assert choices["license_number"] == "License number"
    assert choices["is_active"] == "Active"
