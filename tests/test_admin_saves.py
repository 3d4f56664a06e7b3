"""Saving through the admin pages: feed events, membership messages, conflicts."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from doctors.context import acting_as
from doctors.ledger.chain import SEAL_QUERIES
from doctors.models import ActivityEvent, Department, Doctor, Membership
from tests.admin_forms import department_form, doctor_form, membership_row
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

# One admin save of a doctor that changes two fields and three memberships,
# opening its change-set and closing it (end time and counts, and its link in
# the history chain) included.
# Sealing a change-set that names a doctor also looks up that doctor's key.
DOCTOR_SAVE_QUERIES = 41 + SEAL_QUERIES + 1


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def membership_events():
    return sorted(
        (e.verb, e.target_text, e.department_text)
        for e in ActivityEvent.objects.filter(verb__startswith="membership_")
    )


@pytest.fixture
def departments():
    return {
        name: DepartmentFactory(name=name)
        for name in ["Cardiology", "Neurology", "Oncology"]
    }


def test_creating_a_doctor_with_two_departments(
    staff_client, clinic_staff, departments
):
    data = doctor_form(
        first_name="Jane",
        last_name="Roe",
        rows=[
            membership_row(
                other=departments["Cardiology"].pk, side="department", is_primary=True
            ),
            membership_row(other=departments["Neurology"].pk, side="department"),
        ],
    )
    response = staff_client.post(reverse("admin:doctors_doctor_add"), data, follow=True)
    assert response.status_code == 200
    assert (
        "Dr Jane Roe: added to Cardiology, Neurology; primary department now "
        "Cardiology." in messages_of(response)
    )
    assert membership_events() == [
        ("membership_added", "Dr Jane Roe", "Cardiology"),
        ("membership_added", "Dr Jane Roe", "Neurology"),
    ]
    created = ActivityEvent.objects.get(verb="created", target_type="doctor")
    assert (created.actor, created.source) == (clinic_staff, "admin")


def test_changing_and_removing_memberships_from_the_doctor_page(
    staff_client, departments
):
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    cardio = MembershipFactory(doctor=doctor, department=departments["Cardiology"])
    onco = MembershipFactory(doctor=doctor, department=departments["Oncology"])
    ActivityEvent.objects.all().delete()
    data = doctor_form(
        doctor,
        rows=[
            membership_row(
                cardio, other=cardio.department_id, side="department", role="head"
            ),
            membership_row(
                onco, other=onco.department_id, side="department", delete=True
            ),
        ],
    )
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    response = staff_client.post(url, data, follow=True)
    assert "Dr Jane Roe: removed from Oncology; now head of Cardiology." in messages_of(
        response
    )
    assert membership_events() == [
        ("membership_changed", "Dr Jane Roe", "Cardiology"),
        ("membership_removed", "Dr Jane Roe", "Oncology"),
    ]


def test_no_membership_message_when_memberships_did_not_change(
    staff_client, departments
):
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    membership = MembershipFactory(doctor=doctor, department=departments["Cardiology"])
    ActivityEvent.objects.all().delete()
    data = doctor_form(
        doctor,
        phone="+1 555 0199",
        rows=[
            membership_row(
                membership, other=membership.department_id, side="department"
            )
        ],
    )
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    response = staff_client.post(url, data, follow=True)
    messages = messages_of(response)
    assert len(messages) == 1 and "was changed successfully" in messages[0]
    assert not ActivityEvent.objects.filter(verb__startswith="membership_").exists()


def test_names_in_messages_are_escaped(staff_client):
    department = DepartmentFactory(name="<b>x</b>")
    data = doctor_form(rows=[membership_row(other=department.pk, side="department")])
    response = staff_client.post(reverse("admin:doctors_doctor_add"), data, follow=True)
    content = response.content.decode()
    assert "added to &lt;b&gt;x&lt;/b&gt;" in content
    assert "<b>x</b>" not in content


class TestLostUpdates:
    def test_second_save_of_a_doctor_gets_a_clear_conflict(self, client, departments):
        doctor = DoctorFactory(first_name="Jane", last_name="Roe")
        first = UserFactory(username="first", groups=["Clinic staff"])
        second = UserFactory(username="second", groups=["Clinic staff"])
        url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
        opened_by_second = doctor_form(doctor, last_name="Second")  # as the page was

        client.force_login(first)
        response = client.post(url, doctor_form(doctor, first_name="First"))
        assert response.status_code == 302

        client.force_login(second)
        response = client.post(url, opened_by_second)
        assert response.status_code == 200
        errors = response.context["adminform"].form.non_field_errors()
        assert len(errors) == 1
        assert errors[0].startswith("Dr First Roe was changed by first at ")
        assert errors[0].endswith(
            "since you opened it; review and save again. Fields you did not edit "
            "now show their stored values."
        )
        doctor.refresh_from_db()
        assert (doctor.first_name, doctor.last_name) == ("First", "Roe")

        # The page now shows the first save's name and keeps the second
        # editor's own edit; saving again undoes nothing of the first save.
        form = response.context["adminform"].form
        assert (form["first_name"].value(), form["last_name"].value()) == (
            "First",
            "Second",
        )
        response = client.post(url, form.data.copy())
        assert response.status_code == 302
        doctor.refresh_from_db()
        assert (doctor.first_name, doctor.last_name) == ("First", "Second")

    def test_a_field_both_editors_changed_is_named_and_keeps_the_later_edit(
        self, client, clinic_staff
    ):
        doctor = DoctorFactory(phone="1")
        opened = doctor_form(doctor, phone="3")
        doctor.phone = "2"
        doctor.is_active = False
        doctor.save()
        client.force_login(clinic_staff)
        url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
        response = client.post(url, opened)
        form = response.context["adminform"].form
        assert "They also changed phone, which you changed too" in str(form.errors)
        assert form["phone"].value() == "3"
        assert form["is_active"].value() is False  # refreshed: they did not edit it

    def test_a_membership_change_made_elsewhere_also_conflicts(self, staff_client):
        doctor = DoctorFactory()
        opened = doctor_form(doctor, first_name="Late")
        doctor.departments.add(DepartmentFactory())  # e.g. from the department page
        url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
        response = staff_client.post(url, opened)
        assert response.status_code == 200
        assert "since you opened it" in str(response.context["adminform"].form.errors)
        assert Doctor.objects.get(pk=doctor.pk).first_name != "Late"

    def test_second_save_of_a_department_gets_a_clear_conflict(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        opened = department_form(department, description="Mine")
        department.description = "Theirs"
        department.save()
        url = reverse("admin:doctors_department_change", args=[department.pk])
        response = staff_client.post(url, opened)
        assert response.status_code == 200
        assert "Cardiology was changed by a system process at" in str(
            response.context["adminform"].form.errors
        )
        assert Department.objects.get(pk=department.pk).description == "Theirs"


def test_query_budget_of_a_doctor_save(staff_client, departments):
    """Two fields and three memberships (one changed, one removed, one added)."""
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    cardio = MembershipFactory(doctor=doctor, department=departments["Cardiology"])
    neuro = MembershipFactory(doctor=doctor, department=departments["Neurology"])
    data = doctor_form(
        doctor,
        first_name="Janet",
        phone="+1 555 0100",
        rows=[
            membership_row(
                cardio, other=cardio.department_id, side="department", role="head"
            ),
            membership_row(
                neuro, other=neuro.department_id, side="department", delete=True
            ),
            membership_row(other=departments["Oncology"].pk, side="department"),
        ],
    )
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    # The admin log's content type is cached per process: warm it, so the
    # count is the same whether this test runs alone or in the suite.
    ContentType.objects.get_for_model(Doctor)
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.post(url, data)
    assert response.status_code == 302
    assert len(queries) == DOCTOR_SAVE_QUERIES, "\n".join(
        q["sql"][:150] for q in queries
    )
    assert Membership.objects.filter(doctor=doctor).count() == 2


class TestFeedAdmin:
    def test_links_to_the_target_while_it_exists(self, client, superuser):
        doctor = DoctorFactory(first_name="Jane", last_name="Roe")
        client.force_login(superuser)
        url = reverse("admin:doctors_activityevent_changelist")
        change_url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
        assert (
            f'<a href="{change_url}">Dr Jane Roe</a>'
            in client.get(url).content.decode()
        )
        doctor.delete()
        content = client.get(url).content.decode()
        assert change_url not in content
        assert "Dr Jane Roe" in content

    def test_read_only_even_for_superusers(self, client, superuser):
        DoctorFactory()
        event = ActivityEvent.objects.first()
        client.force_login(superuser)
        url = reverse("admin:doctors_activityevent_change", args=[event.pk])
        page = client.get(url).content.decode()
        assert 'name="_save"' not in page
        response = client.post(url, {"target_text": "forged"})
        assert response.status_code == 403
        event.refresh_from_db()
        assert event.target_text != "forged"

    def test_filters_and_search(self, client, superuser):
        with acting_as(superuser, source="admin"):
            DoctorFactory(first_name="Findme", last_name="Please")
        DepartmentFactory(name="Other")
        client.force_login(superuser)
        url = reverse("admin:doctors_activityevent_changelist")
        assert client.get(url, {"q": "Findme"}).context["cl"].result_count == 1
        assert (
            client.get(url, {"verb__exact": "created"}).context["cl"].result_count == 2
        )
        assert (
            client.get(url, {"source__exact": "admin"}).context["cl"].result_count == 1
        )
        by_actor = client.get(url, {"actor__id__exact": superuser.pk})
        assert by_actor.context["cl"].result_count == 1
        filters = client.get(url).context["cl"].filter_specs
        assert [f.title for f in filters] == [
            "what happened",
            "source",
            "person",
            "when",
        ]


def test_history_pages_list_membership_changes(staff_client, clinic_staff):
    """A doctor's and a department's History show who changed which membership."""
    department = DepartmentFactory(name="Cardiology")
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    with acting_as(clinic_staff, source="admin"):
        doctor.departments.add(department, through_defaults={"role": "head"})
        doctor.departments.remove(department)
    page = staff_client.get(
        reverse("admin:doctors_doctor_history", args=[doctor.pk])
    ).content.decode()
    rows = page.split('id="membership_change_history"')[1]
    assert rows.index("Removed from department") < rows.index("Added to department")
    assert "<td>Cardiology</td>" in rows and "<td>as head of department</td>" in rows
    assert "<td>staff-user</td>" in rows
    page = staff_client.get(
        reverse("admin:doctors_department_history", args=[department.pk])
    ).content.decode()
    assert "<td>Dr Jane Roe</td>" in page.split('id="membership_change_history"')[1]


def _history_rows(doctor, department, count: int) -> None:
    Doctor.history.bulk_create(
        [
            Doctor.history.model(
                id=doctor.pk,
                license_number=doctor.license_number,
                first_name=f"Jane{index}",
                last_name=doctor.last_name,
                email=doctor.email,
                specialty=doctor.specialty,
                is_active=True,
                created_at=doctor.created_at,
                history_date=doctor.created_at,
                history_type="~",
            )
            for index in range(count)
        ]
    )
    ActivityEvent.objects.bulk_create(
        ActivityEvent(
            source="admin",
            verb="membership_changed",
            target_type="doctor",
            target_id=doctor.pk,
            target_text=str(doctor),
            department_id=department.pk,
            department_text=str(department),
            changes={"joined_on": ["2024-01-01", f"2024-01-{index % 28 + 1:02d}"]},
        )
        for index in range(count)
    )


@pytest.mark.parametrize("rows", [30, 250])
def test_history_pages_are_paginated(staff_client, rows):
    """Both the record's history and its membership changes come 100 at a
    time, with the same queries however many there are."""
    department = DepartmentFactory(name="Cardiology")
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    _history_rows(doctor, department, rows)
    url = reverse("admin:doctors_doctor_history", args=[doctor.pk])
    staff_client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(url)
    assert len(queries) == HISTORY_PAGE_QUERIES
    assert len(response.context["page_obj"].object_list) == min(rows + 1, 100)
    assert len(response.context["membership_events"]) == min(rows, 100)
    last = staff_client.get(f"{url}?events_page=3")
    assert len(last.context["membership_events"]) == (50 if rows == 250 else 30)
    department_page = staff_client.get(
        reverse("admin:doctors_department_history", args=[department.pk])
    )
    assert len(department_page.context["membership_events"]) == min(rows, 100)


# The doctor's page includes the membership timeline and its department names.
HISTORY_PAGE_QUERIES = 11
