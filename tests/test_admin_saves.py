"""Saving through the admin pages: feed events, membership messages, conflicts."""

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.formats import date_format

from doctors import periods
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
# A membership is a period: each changed period is checked against the
# others (the rules hold on every day: the overlap, head and primary rules
# read the periods they could break, in one query per period), and the role
# change is a change from a day through doctors.period_changes (validated, in
# its savepoint): +13.
DOCTOR_SAVE_QUERIES = 41 + SEAL_QUERIES + 1 + 13


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
        "Dr Jane Roe: joined Cardiology on 1 Jan 2024 (primary department); "
        "joined Neurology on 1 Jan 2024." in messages_of(response)
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
    """Head from a chosen day: the period ends the day before and a head
    period starts; "Remove" ends the other period yesterday."""
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    started = datetime.date(2024, 1, 1)
    cardio = MembershipFactory(
        doctor=doctor, department=departments["Cardiology"], joined_on=started
    )
    onco = MembershipFactory(
        doctor=doctor, department=departments["Oncology"], joined_on=started
    )
    ActivityEvent.objects.all().delete()
    head_from = periods.today() + datetime.timedelta(days=7)
    data = doctor_form(
        doctor,
        rows=[
            {
                **membership_row(
                    cardio, other=cardio.department_id, side="department", role="head"
                ),
                "changes_from": head_from.isoformat(),
            },
            membership_row(
                onco, other=onco.department_id, side="department", delete=True
            ),
        ],
    )
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    response = staff_client.post(url, data, follow=True)
    assert (
        f"Dr Jane Roe: left Oncology on {date_format(periods.yesterday())}; head of "
        f"Cardiology from {date_format(head_from)} (was member)."
    ) in messages_of(response)
    assert membership_events() == [
        ("membership_changed", "Dr Jane Roe", "Cardiology"),
        ("membership_removed", "Dr Jane Roe", "Oncology"),
    ]
    rows = Membership.objects.filter(doctor=doctor).order_by(
        "department__name", "joined_on"
    )
    assert [(m.department.name, m.role, m.joined_on, m.left_on) for m in rows] == [
        ("Cardiology", "member", started, head_from - periods.ONE_DAY),
        ("Cardiology", "head", head_from, None),
        ("Oncology", "member", started, periods.yesterday()),
    ]


def test_a_new_role_from_a_day_another_head_takes_later_is_a_row_error(
    staff_client, departments
):
    """The error names the other period; nothing is saved."""
    cardiology = departments["Cardiology"]
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    mine = MembershipFactory(
        doctor=doctor, department=cardiology, joined_on=datetime.date(2024, 1, 1)
    )
    later = periods.today() + datetime.timedelta(days=30)
    MembershipFactory(
        doctor=DoctorFactory(first_name="Max", last_name="Moe"),
        department=cardiology,
        role="head",
        joined_on=later,
    )
    data = doctor_form(
        doctor,
        rows=[
            membership_row(mine, other=cardiology.pk, side="department", role="head")
        ],
    )
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    response = staff_client.post(url, data)
    assert response.status_code == 200
    errors = str(response.context["inline_admin_formsets"][0].formset.errors)
    assert (
        f"Cardiology already has a head from {date_format(later)}: Dr Max Moe."
        in errors
    )
    mine.refresh_from_db()
    assert (mine.role, mine.left_on) == ("member", None)


def test_editing_a_first_day_on_the_doctor_page_is_a_correction(
    staff_client, departments
):
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    mine = MembershipFactory(
        doctor=doctor,
        department=departments["Cardiology"],
        joined_on=datetime.date(2026, 3, 1),
    )
    ActivityEvent.objects.all().delete()
    data = doctor_form(
        doctor,
        rows=[
            membership_row(
                mine,
                other=mine.department_id,
                side="department",
                joined_on="2026-03-03",
            )
        ],
    )
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    response = staff_client.post(url, data, follow=True)
    assert (
        "Dr Jane Roe: corrected in Cardiology: first day 1 Mar 2026 → 3 Mar 2026."
        in messages_of(response)
    )
    (event,) = ActivityEvent.objects.filter(verb="membership_changed")
    assert event.changes["period_event"] == [None, "corrected"]
    assert Membership.objects.filter(doctor=doctor).count() == 1


def test_removing_a_period_that_has_not_started_cancels_it(staff_client, departments):
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    soon = periods.today() + datetime.timedelta(days=10)
    future = MembershipFactory(
        doctor=doctor, department=departments["Neurology"], joined_on=soon
    )
    data = doctor_form(
        doctor,
        rows=[
            membership_row(
                future, other=future.department_id, side="department", delete=True
            )
        ],
    )
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    response = staff_client.post(url, data, follow=True)
    assert (
        f"Dr Jane Roe: period in Neurology from {date_format(soon)} cancelled."
        in messages_of(response)
    )
    assert not Membership.objects.filter(doctor=doctor).exists()


def test_the_doctor_page_lists_ended_periods_read_only(staff_client, departments):
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    MembershipFactory(
        doctor=doctor,
        department=departments["Oncology"],
        joined_on=datetime.date(2020, 1, 1),
        left_on=datetime.date(2022, 6, 30),
    )
    response = staff_client.get(
        reverse("admin:doctors_doctor_change", args=[doctor.pk])
    )
    page = response.content.decode()
    assert "Oncology: 1 Jan 2020 to 30 Jun 2022" in page
    assert response.context["inline_admin_formsets"][0].formset.total_form_count() == 0


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
    assert "joined &lt;b&gt;x&lt;/b&gt; on 1 Jan 2024" in content
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
    # Joined and left on the same day: the period never started, cancelled.
    assert rows.index("Cancelled (never started)") < rows.index("<td>Joined</td>")
    today = date_format(periods.today())
    assert "<td>Cardiology</td>" in rows
    assert f"<td>Joined Cardiology on {today} as head</td>" in rows
    assert f"<td>Cancelled the period in Cardiology from {today}</td>" in rows
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


def test_a_doctor_save_costs_the_same_whatever_the_periods_left_as_they_are(
    staff_client,
):
    """Periods shown on the page but not edited are not checked against the
    rules one by one: what a row left as it is costs is Django's own reading
    of its department and its period (two queries; five before periods)."""

    def save_with(count: int) -> int:
        doctor = DoctorFactory()
        rows = [
            MembershipFactory(
                doctor=doctor,
                department=DepartmentFactory(),
                joined_on=datetime.date(2020, 1, 1),
            )
            for _ in range(count)
        ]
        data = doctor_form(
            doctor,
            first_name="Changed",
            rows=[
                membership_row(row, other=row.department_id, side="department")
                for row in rows
            ],
        )
        url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
        ContentType.objects.get_for_model(Doctor)
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.post(url, data)
        assert response.status_code == 302
        return len(queries)

    assert save_with(8) - save_with(1) <= 7 * 2


def test_the_primary_department_moves_to_a_new_row_when_the_old_is_removed(
    staff_client, departments
):
    """Removing the primary department's period (it ends yesterday) and
    adding another primary one from today is one save, not a conflict."""
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    old = MembershipFactory(
        doctor=doctor,
        department=departments["Cardiology"],
        is_primary=True,
        joined_on=datetime.date(2024, 1, 1),
    )
    today = periods.today()
    data = doctor_form(
        doctor,
        rows=[
            membership_row(
                old, other=old.department_id, side="department", delete=True
            ),
            membership_row(
                other=departments["Neurology"].pk,
                side="department",
                is_primary=True,
                joined_on=today.isoformat(),
            ),
        ],
    )
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    response = staff_client.post(url, data, follow=True)
    assert (
        f"Dr Jane Roe: left Cardiology on {date_format(periods.yesterday())}; joined "
        f"Neurology on {date_format(today)} (primary department)."
    ) in messages_of(response)
    primary = Membership.objects.current().get(doctor=doctor, is_primary=True)
    assert primary.department == departments["Neurology"]
