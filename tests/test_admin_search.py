"""Admin search (doctors/admin/search.py): the same doctors found on SQLite and
PostgreSQL, and on SQLite the trigram full-text index kept in step with every
write (admin edits, the bulk import, deletes)."""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from doctors.admin.search import fts_phrase, search_terms
from doctors.importing.runner import import_doctors
from doctors.models import ActivityEvent, Doctor
from tests.admin_forms import doctor_form
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.django_db

DOCTORS = reverse("admin:doctors_doctor_changelist")
HEADER = (
    "license_number,first_name,last_name,email,phone,specialty,departments,is_active"
)


def found(client, url: str, term: str) -> set[int]:
    response = client.get(url, {"q": term})
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def autocompleted(client, term: str) -> set[int]:
    response = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "doctors",
            "model_name": "membership",
            "field_name": "doctor",
            "term": term,
        },
    )
    assert response.status_code == 200
    return {int(result["id"]) for result in response.json()["results"]}


def assert_index_in_step() -> None:
    """SQLite: the FTS tables index exactly the rows of their tables (FTS5's
    integrity check against the content table raises otherwise)."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for table in ("doctors_doctor_fts", "doctors_activityevent_fts"):
            cursor.execute(
                f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)"
            )


def indexed(term: str) -> set[int]:
    """SQLite: the doctors the index finds for `term`; elsewhere, by LIKE."""
    if connection.vendor != "sqlite":
        return set(
            Doctor.objects.filter(last_name__icontains=term).values_list(
                "pk", flat=True
            )
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rowid FROM doctors_doctor_fts WHERE doctors_doctor_fts MATCH %s",
            [fts_phrase(term)],
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def doctors(db):
    return {
        "anna": DoctorFactory(
            first_name="Anna",
            last_name="Kowalczyk",
            email="anna.kowalczyk.7@clinic.test",
            license_number="ZX-9901",
        ),
        "jose": DoctorFactory(
            first_name="José",
            last_name="Ödegaard",
            email="jose.o@clinic.test",
            license_number="zx-77",
        ),
        "other": DoctorFactory(
            first_name="Ben",
            last_name="Smith",
            email="ben.smith@clinic.test",
            license_number="AB-12",
        ),
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("owalc", {"anna"}),  # a fragment of the last name
        ("KOWALCZYK", {"anna"}),  # any case
        ("Ann", {"anna"}),  # the first name
        ("anna.kowalczyk.7", {"anna"}),  # the email as typed
        ("@clinic.test", {"anna", "jose", "other"}),
        ("ZX-99", {"anna"}),  # the start of a license number
        ("zx-", {"anna", "jose"}),  # license prefixes ignore case
        ("X-99", set()),  # inside a license number: not found
        ("ko", {"anna"}),  # shorter than a trigram: still found
        ("anna smith", set()),  # every term must match
        ("anna kowal", {"anna"}),
        ('"Anna"', {"anna"}),  # quoted, as Django's admin unquotes it
        ("nobody", set()),
    ],
)
def test_doctor_search_finds_the_same_doctors(staff_client, doctors, term, expected):
    want = {doctors[name].pk for name in expected}
    assert found(staff_client, DOCTORS, term) == want
    assert autocompleted(staff_client, term) == want


def test_search_of_a_non_ascii_name(staff_client, doctors):
    # SQLite's LIKE folds only ASCII case; the exact spelling is found everywhere.
    assert found(staff_client, DOCTORS, "Ödegaard") == {doctors["jose"].pk}
    assert found(staff_client, DOCTORS, "José") == {doctors["jose"].pk}
    # Another case of a non-ASCII letter: PostgreSQL only (see docs/guide.md).
    lower = found(staff_client, DOCTORS, "ödegaard")
    assert lower == (
        {doctors["jose"].pk} if connection.vendor == "postgresql" else set()
    )


def test_member_list_search(staff_client, doctors):
    department = DepartmentFactory()
    for doctor in doctors.values():
        MembershipFactory(doctor=doctor, department=department)
    url = reverse("admin:doctors_membership_changelist")
    response = staff_client.get(url, {"department": department.pk, "q": "owalc"})
    assert [m.doctor_id for m in response.context["cl"].result_list] == [
        doctors["anna"].pk
    ]
    response = staff_client.get(url, {"department": department.pk, "q": "zx-"})
    assert {m.doctor_id for m in response.context["cl"].result_list} == {
        doctors["anna"].pk,
        doctors["jose"].pk,
    }


def test_feed_search(staff_client, doctors):
    ActivityEvent.objects.all().delete()
    DoctorFactory(first_name="Zed", last_name="Quarantino")
    events = ActivityEvent.objects.filter(target_text__icontains="quarantin")
    assert events.exists()
    response = staff_client.get(
        reverse("admin:doctors_activityevent_changelist"), {"q": "arantin"}
    )
    assert {e.pk for e in response.context["cl"].result_list} == set(
        events.values_list("pk", flat=True)
    )
    assert_index_in_step()


def test_search_runs_as_many_queries_as_the_plain_list(staff_client, doctors):
    def queries(params):
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(DOCTORS, params).status_code == 200
        return len(captured)

    plain = queries({})
    assert queries({"q": "owalc"}) == plain
    assert queries({"q": "anna kowal"}) == plain


def test_index_follows_admin_edits_and_deletes(staff_client, superuser, doctors):
    anna = doctors["anna"]
    response = staff_client.post(
        reverse("admin:doctors_doctor_change", args=[anna.pk]),
        doctor_form(anna, last_name="Nowakowska", license_number="QQ-1"),
    )
    assert response.status_code == 302
    assert_index_in_step()
    assert indexed("ZX-99") == set()  # the old license number is gone
    assert indexed("nowakow") == {anna.pk}
    assert found(staff_client, DOCTORS, "nowakow") == {anna.pk}
    assert found(staff_client, DOCTORS, "QQ-1") == {anna.pk}
    assert found(staff_client, DOCTORS, "ZX-99") == set()

    # Staff may not delete doctors; an administrator may.
    staff_client.force_login(superuser)
    response = staff_client.post(
        reverse("admin:doctors_doctor_delete", args=[anna.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Doctor.objects.filter(pk=anna.pk).exists()
    assert_index_in_step()
    assert indexed("nowakow") == set()
    assert found(staff_client, DOCTORS, "nowakow") == set()


def test_index_follows_the_bulk_import(staff_client, doctors):
    def run(*lines):
        data = "\r\n".join([HEADER, *lines, ""]).encode()
        result = import_doctors(io.BytesIO(data), file_name="doctors.csv")
        assert result.problem_count == 0, result.problems
        return result

    assert (
        run(
            "IMP-1,Greta,Lindqvist,greta.l@clinic.test,,cardiology,,true",
            "IMP-2,Hugo,Marchetti,hugo.m@clinic.test,,cardiology,,true",
        ).created
        == 2
    )
    assert_index_in_step()
    greta = Doctor.objects.get(license_number="IMP-1")
    assert found(staff_client, DOCTORS, "lindq") == {greta.pk}
    assert found(staff_client, DOCTORS, "IMP-") == set(
        Doctor.objects.filter(license_number__startswith="IMP-").values_list(
            "pk", flat=True
        )
    )
    # The same file with a new name: the import updates the doctor in bulk.
    updated = run(
        "IMP-1,Greta,Bergström,greta.l@clinic.test,,cardiology,,true",
        "IMP-2,Hugo,Marchetti,hugo.m@clinic.test,,cardiology,,true",
    )
    assert updated.updated == 1
    assert_index_in_step()
    assert found(staff_client, DOCTORS, "lindq") == set()
    assert found(staff_client, DOCTORS, "bergstr") == {greta.pk}


def test_search_terms_split_like_django():
    assert search_terms('anna "van der" x') == ["anna", "van der", "x"]
    assert fts_phrase('a"b') == '"a""b"'
