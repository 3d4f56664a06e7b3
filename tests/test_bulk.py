"""doctors.bulk: the `any_of` lookup the bulk paths use for a chunk's keys."""

import pytest
from django.db import connection
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext

from doctors.models import Department, Doctor, Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def doctors():
    cardiology = Department.objects.create(code="CARD", name="Cardiology")
    made = [
        Doctor.objects.create(
            license_number=f"LIC-{n}",
            first_name="Ann",
            last_name=f"Lee{n}",
            email=f"Ann{n}@Clinic.test",
            specialty="cardiology",
        )
        for n in range(4)
    ]
    for doctor in made[:3]:
        Membership.objects.create(doctor=doctor, department=cardiology)
    return made


def test_any_of_finds_the_rows_whose_value_is_listed(doctors):
    wanted = {doctors[0].pk, doctors[2].pk, 10**12}  # and one no row has
    assert set(
        Membership.objects.filter(doctor_id__any_of=wanted).values_list(
            "doctor_id", flat=True
        )
    ) == {doctors[0].pk, doctors[2].pk}
    assert set(
        Doctor.objects.filter(
            license_number__any_of=["LIC-1", "LIC-3", None]
        ).values_list("pk", flat=True)
    ) == {doctors[1].pk, doctors[3].pk}
    emails = Doctor.objects.annotate(email_ci=Lower("email")).filter(
        email_ci__any_of=["ann0@clinic.test"]
    )
    assert [doctor.pk for doctor in emails] == [doctors[0].pk]
    assert not Doctor.objects.filter(pk__any_of=[]).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's array")
def test_on_postgresql_the_array_has_the_columns_type(doctors):
    """psycopg sends small numbers as integer[]; against the bigint column
    the planner left the index aside and compared every row with each id."""
    with CaptureQueriesContext(connection) as queries:
        list(Membership.objects.filter(doctor_id__any_of=[doctors[0].pk]))
        list(Doctor.objects.filter(license_number__any_of=["LIC-1"]))
    membership_sql, doctor_sql = (q["sql"] for q in queries.captured_queries)
    assert '"doctor_id" = ANY(' in membership_sql
    assert "::bigint[])" in membership_sql
    assert "::varchar(30)[])" in doctor_sql
