import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from doctors.context import acting_as
from doctors.models import ActivityEvent, Department, Doctor, Membership
from tests.admin_forms import department_form, doctor_form, membership_row
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

DOCTOR_CHANGELIST_QUERIES = 8
DEPARTMENT_CHANGELIST_QUERIES = 8


def make_doctors(count: int, departments: list[Department]) -> None:
    for index in range(count):
        doctor = DoctorFactory()
        for position, department in enumerate(departments[index % 2 : index % 2 + 2]):
            MembershipFactory(
                doctor=doctor, department=department, is_primary=not position
            )


def changelist_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("rows", [10, 200])
def test_doctor_changelist_queries_do_not_grow_with_rows(client, clinic_staff, rows):
    """The doctor list runs the same number of queries for 10 and 200 rows."""
    departments = DepartmentFactory.create_batch(3)
    make_doctors(rows, departments)
    client.force_login(clinic_staff)
    url = reverse("admin:doctors_doctor_changelist") + "?all="
    with pytest.MonkeyPatch.context() as patch:
        from doctors.admin import DoctorAdmin

        patch.setattr(DoctorAdmin, "list_per_page", 500)
        assert changelist_queries(client, url) == DOCTOR_CHANGELIST_QUERIES
        filtered = f"{url}&departments__id__exact={departments[0].pk}&q=Roe"
        response = client.get(filtered)
    assert response.status_code == 200
    assert response.context["cl"].result_count == sum(
        1 for d in Doctor.objects.all() if d.departments.filter(pk=departments[0].pk)
    )


def test_doctor_changelist_shows_primary_and_all_departments(staff_client):
    cardio = DepartmentFactory(name="Cardiology")
    neuro = DepartmentFactory(name="Neurology")
    doctor = DoctorFactory(first_name="Ada", last_name="Lovelace")
    MembershipFactory(doctor=doctor, department=neuro, is_primary=True)
    MembershipFactory(doctor=doctor, department=cardio)
    response = staff_client.get(reverse("admin:doctors_doctor_changelist"))
    content = response.content.decode()
    assert "Lovelace, Ada" in content
    assert '<td class="field-primary_department">Neurology</td>' in content
    assert '<td class="field-department_list">Neurology, Cardiology</td>' in content


@pytest.mark.parametrize("rows", [10, 200])
def test_department_changelist_queries_do_not_grow_with_rows(
    client, clinic_staff, rows
):
    """The department list runs the same number of queries for 10 and 200 rows."""
    for department in DepartmentFactory.create_batch(rows):
        MembershipFactory(department=department, role=Membership.Role.HEAD)
        MembershipFactory(department=department)
    client.force_login(clinic_staff)
    with pytest.MonkeyPatch.context() as patch:
        from doctors.admin import DepartmentAdmin

        patch.setattr(DepartmentAdmin, "list_per_page", 500)
        url = reverse("admin:doctors_department_changelist")
        assert changelist_queries(client, url) == DEPARTMENT_CHANGELIST_QUERIES


def test_department_changelist_shows_member_count_and_head(staff_client):
    department = DepartmentFactory(code="CARD", name="Cardiology")
    head = DoctorFactory(first_name="Grace", last_name="Hopper")
    MembershipFactory(department=department, doctor=head, role=Membership.Role.HEAD)
    MembershipFactory(department=department)
    response = staff_client.get(reverse("admin:doctors_department_changelist"))
    content = response.content.decode()
    assert '<td class="field-member_count">2</td>' in content
    assert '<td class="field-head">Dr Grace Hopper</td>' in content


def test_admin_is_titled_clinic_admin(staff_client):
    response = staff_client.get(reverse("admin:index"))
    assert "<title>Doctors, departments and memberships | Clinic admin</title>" in (
        response.content.decode()
    )


def test_doctor_search_by_email_and_license(staff_client):
    DoctorFactory(license_number="ZX-99", email="unique.person@clinic.test")
    DoctorFactory()
    url = reverse("admin:doctors_doctor_changelist")
    for term in ["unique.person", "ZX-99"]:
        response = staff_client.get(url, {"q": term})
        assert response.context["cl"].result_count == 1


class TestDoctorFormErrors:
    url = staticmethod(lambda: reverse("admin:doctors_doctor_add"))

    def post(self, client, data, doctor=None):
        url = (
            reverse("admin:doctors_doctor_change", args=[doctor.pk])
            if doctor
            else reverse("admin:doctors_doctor_add")
        )
        return client.post(url, data)

    def test_duplicate_license_is_a_field_error(self, staff_client):
        DoctorFactory(license_number="LIC-1")
        response = self.post(staff_client, doctor_form(license_number="LIC-1"))
        assert response.status_code == 200
        assert "license_number" in response.context["adminform"].form.errors
        assert Doctor.objects.count() == 1

    def test_duplicate_email_in_another_case_is_a_field_error(self, staff_client):
        DoctorFactory(email="Jane.Roe@Clinic.test")
        response = self.post(staff_client, doctor_form(email="jane.roe@clinic.TEST"))
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert "already exists" in errors["email"][0]

    def test_second_head_of_a_department_is_a_row_error(self, staff_client):
        cardio = DepartmentFactory()
        MembershipFactory(department=cardio, role=Membership.Role.HEAD)
        data = doctor_form(
            rows=[membership_row(other=cardio.pk, side="department", role="head")]
        )
        response = self.post(staff_client, data)
        assert response.status_code == 200
        formset = response.context["inline_admin_formsets"][0].formset
        assert "already has a head" in str(formset.errors)
        assert Doctor.objects.count() == 1

    def test_two_primary_departments_is_a_row_error(self, staff_client):
        first, second = DepartmentFactory.create_batch(2)
        data = doctor_form(
            rows=[
                membership_row(other=first.pk, side="department", is_primary=True),
                membership_row(other=second.pk, side="department", is_primary=True),
            ]
        )
        response = self.post(staff_client, data)
        assert response.status_code == 200
        formset = response.context["inline_admin_formsets"][0].formset
        assert "This doctor can have only one primary department." in str(
            formset.errors
        )
        assert not Doctor.objects.exists()

    def test_same_department_twice_is_a_row_error(self, staff_client):
        cardio = DepartmentFactory()
        data = doctor_form(
            rows=[
                membership_row(other=cardio.pk, side="department"),
                membership_row(other=cardio.pk, side="department"),
            ]
        )
        response = self.post(staff_client, data)
        assert response.status_code == 200
        assert not Doctor.objects.exists()

    def test_a_page_older_than_the_stored_doctor_is_refused(self, staff_client):
        """Saving a page opened before someone else's save changes nothing; the
        error names the doctor as stored, not as typed, and who changed it."""
        doctor = DoctorFactory(first_name="Jane", last_name="Roe")
        stale_page = doctor_form(doctor, first_name="Janet")
        with acting_as(UserFactory(username="alice"), source="admin"):
            doctor.phone = "+44 20 7946 0001"
            doctor.save()
        response = self.post(staff_client, stale_page, doctor)
        assert response.status_code == 200
        (error,) = response.context["adminform"].form.non_field_errors()
        assert error.startswith("Dr Jane Roe was changed by alice at ")
        assert "since you opened it; review and save again." in error
        doctor.refresh_from_db()
        assert (doctor.first_name, doctor.phone) == ("Jane", "+44 20 7946 0001")

    def test_primary_can_move_to_another_department_in_one_save(self, staff_client):
        first, second = DepartmentFactory.create_batch(2)
        doctor = DoctorFactory()
        old = MembershipFactory(doctor=doctor, department=first, is_primary=True)
        data = doctor_form(
            doctor,
            rows=[
                membership_row(old, other=first.pk, side="department"),
                membership_row(other=second.pk, side="department", is_primary=True),
            ],
        )
        response = self.post(staff_client, data, doctor)
        assert response.status_code == 302
        primary = Membership.objects.get(doctor=doctor, is_primary=True)
        assert primary.department == second

    def test_primary_moves_to_a_row_that_gives_up_the_head_role_in_one_save(
        self, staff_client
    ):
        """The row taking the primary flag is saved after the row giving it up,
        even when it gives something up itself (its head role)."""
        headed, other = DepartmentFactory.create_batch(2)
        doctor = DoctorFactory()
        head_row = MembershipFactory(doctor=doctor, department=headed, role="head")
        primary_row = MembershipFactory(
            doctor=doctor, department=other, is_primary=True
        )
        data = doctor_form(
            doctor,
            rows=[
                membership_row(
                    head_row, other=headed.pk, side="department", is_primary=True
                ),
                membership_row(primary_row, other=other.pk, side="department"),
            ],
        )
        response = self.post(staff_client, data, doctor)
        assert response.status_code == 302
        head_row.refresh_from_db()
        primary_row.refresh_from_db()
        assert (head_row.role, head_row.is_primary) == ("member", True)
        assert primary_row.is_primary is False


class TestDepartmentFormErrors:
    def post(self, client, department, data):
        url = reverse("admin:doctors_department_change", args=[department.pk])
        return client.post(url, data)

    def test_duplicate_code_is_a_field_error(self, staff_client):
        DepartmentFactory(code="CARD")
        department = DepartmentFactory()
        response = self.post(
            staff_client, department, department_form(department, code="CARD")
        )
        assert response.status_code == 200
        assert "code" in response.context["adminform"].form.errors


def test_constraint_race_becomes_a_message_not_a_server_error(
    staff_client, monkeypatch
):
    """A violation that passes validation (a concurrent save) is reported, not a 500."""
    department = DepartmentFactory()
    doctor = DoctorFactory()
    from doctors.admin import MembershipFormSet

    # Simulate a head saved by someone else after validation ran.
    original_clean = MembershipFormSet.clean

    def clean_then_race(self):
        original_clean(self)
        MembershipFactory(department=department, role=Membership.Role.HEAD)

    monkeypatch.setattr(MembershipFormSet, "clean", clean_then_race)
    data = doctor_form(
        doctor,
        rows=[membership_row(other=department.pk, side="department", role="head")],
    )
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    response = staff_client.post(url, data, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any(
        "That department already has a head on some of those days." in m
        for m in messages
    ), messages
    assert not Membership.objects.filter(doctor=doctor).exists()


def test_activate_and_deactivate_actions(staff_client):
    doctors = DoctorFactory.create_batch(3, is_active=True)
    url = reverse("admin:doctors_doctor_changelist")
    response = staff_client.post(
        url,
        {"action": "deactivate", "_selected_action": [d.pk for d in doctors[:2]]},
        follow=True,
    )
    assert "2 doctors marked inactive." in response.content.decode()
    (event,) = ActivityEvent.objects.filter(verb="bulk_updated")
    assert event.counts == {"doctors": 2, "is_active": False}
    assert list(Doctor.objects.filter(is_active=False).order_by("pk")) == doctors[:2]
    assert doctors[0].history.count() == 2
    assert doctors[0].history.first().is_active is False


@pytest.mark.parametrize(
    "violate, expected",
    [
        (
            lambda: (
                DoctorFactory(license_number="SAME", email="one@clinic.test")
                and DoctorFactory(license_number="SAME", email="two@clinic.test")
            ),
            "A doctor with that license number already exists.",
        ),
        (
            lambda: DoctorFactory(email="a@b.c") and DoctorFactory(email="A@B.C"),
            "A doctor with that email already exists.",
        ),
        (
            lambda: (
                MembershipFactory(department=DepartmentFactory(code="X1"), role="head")
                and MembershipFactory(
                    department=Department.objects.get(code="X1"), role="head"
                )
            ),
            "That department already has a head on some of those days.",
        ),
        (
            lambda: (
                MembershipFactory(
                    doctor=DoctorFactory(license_number="P1"), is_primary=True
                )
                and MembershipFactory(
                    doctor=Doctor.objects.get(license_number="P1"), is_primary=True
                )
            ),
            "That doctor already has a primary department on some of those days.",
        ),
        (
            lambda: DepartmentFactory(code="SAME") and DepartmentFactory(code="SAME"),
            "A department with that code already exists.",
        ),
    ],
)
def test_integrity_errors_are_explained_on_this_database(violate, expected):
    """Each constraint's violation maps to its own sentence (SQLite and PostgreSQL)."""
    from django.db import IntegrityError, transaction

    from doctors.admin import explain_integrity_error

    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        violate()
    assert explain_integrity_error(caught.value) == expected


class TestDoctorSearch:
    def test_a_license_is_found_by_its_start_only(self, staff_client):
        DoctorFactory(license_number="AB-1234", last_name="Lee")
        DoctorFactory(license_number="XAB-1", last_name="Sun")
        url = reverse("admin:doctors_doctor_changelist")
        response = staff_client.get(url, {"q": "ab-12"})
        assert [d.last_name for d in response.context["cl"].result_list] == ["Lee"]
        response = staff_client.get(url, {"q": "AB-1234"})
        assert [d.last_name for d in response.context["cl"].result_list] == ["Lee"]

    def test_results_in_name_order(self, staff_client):
        for first, last in [("Zoe", "Smithers"), ("Al", "Smith"), ("Bo", "Smith")]:
            DoctorFactory(first_name=first, last_name=last)
        DoctorFactory(first_name="Smithy", last_name="Aaron")
        url = reverse("admin:doctors_doctor_changelist")
        response = staff_client.get(url, {"q": "smith"})
        names = [
            (d.last_name, d.first_name) for d in response.context["cl"].result_list
        ]
        assert names == [
            ("Aaron", "Smithy"),
            ("Smith", "Al"),
            ("Smith", "Bo"),
            ("Smithers", "Zoe"),
        ]

    def test_the_autocomplete_finds_by_name_and_license(self, staff_client):
        DoctorFactory(first_name="Ada", last_name="Lovelace", license_number="Q-77")
        DoctorFactory(first_name="Bo", last_name="Sun", license_number="R-1")
        url = reverse("admin:autocomplete")
        params = {"app_label": "doctors", "model_name": "membership"}
        params["field_name"] = "doctor"
        by_name = staff_client.get(url, {**params, "term": "lovel"}).json()
        by_license = staff_client.get(url, {**params, "term": "q-7"}).json()
        label = "Dr Ada Lovelace — Q-77, no primary department"
        assert [r["text"] for r in by_name["results"]] == [label]
        assert [r["text"] for r in by_license["results"]] == [label]


@pytest.mark.parametrize("events", [10, 150])
def test_feed_queries_do_not_grow_with_events(client, superuser, events):
    doctors = DoctorFactory.create_batch(3)
    ActivityEvent.objects.bulk_create(
        ActivityEvent(
            source="admin",
            verb="updated",
            target_type="doctor",
            target_id=doctors[index % 3].pk,
            target_text=str(doctors[index % 3]),
            actor=superuser,
            actor_name=superuser.username,
        )
        for index in range(events)
    )
    client.force_login(superuser)
    url = reverse("admin:doctors_activityevent_changelist")
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"actor__id__exact": superuser.pk})
    assert response.status_code == 200
    assert len(queries) == FEED_QUERIES
    content = response.content.decode()
    assert reverse("admin:doctors_doctor_change", args=[doctors[0].pk]) in content


FEED_QUERIES = 6


def test_feed_search_lists_newest_first(client, superuser):
    import datetime

    from django.utils import timezone

    now = timezone.now()
    for days, name in [(3, "Dr Ada Lovelace"), (1, "Dr Ada Lovelace"), (2, "Dr Bo")]:
        ActivityEvent.objects.create(
            occurred_at=now - datetime.timedelta(days=days),
            source="admin",
            verb="updated",
            target_type="doctor",
            target_text=name,
        )
    client.force_login(superuser)
    response = client.get(
        reverse("admin:doctors_activityevent_changelist"), {"q": "lovelace"}
    )
    rows = response.context["cl"].result_list
    assert [e.occurred_at for e in rows] == sorted(
        (e.occurred_at for e in rows), reverse=True
    )
    assert [e.target_text for e in rows] == ["Dr Ada Lovelace"] * 2
