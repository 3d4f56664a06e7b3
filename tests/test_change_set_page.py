"""The change-set page: what a change-set did to membership periods, read
without a query per listed row."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from doctors import period_changes
from doctors.context import acting_as
from doctors.models import ChangeSet
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db


def _page(client, change_set):
    return client.get(reverse("admin:doctors_changeset_change", args=[change_set.pk]))


def test_a_membership_row_names_its_period(staff_client):
    department = DepartmentFactory(name="Cardiology")
    doctor = DoctorFactory(first_name="Ann", last_name="Abbott")
    with acting_as(description="Periods"):
        period_changes.join(
            doctor,
            department,
            first_day=datetime.date(2024, 3, 1),
            last_day=datetime.date(2025, 5, 31),
        )
    change_set = ChangeSet.objects.get(description="Periods")
    page = _page(staff_client, change_set)
    assert page.status_code == 200
    [section] = [
        s for s in page.context["history_sections"] if s["model_name"] == "membership"
    ]
    [row] = section["rows"]
    assert row["text"] == "Dr Ann Abbott in Cardiology"
    assert row["details"] == "Member, 1 Mar 2024 to 31 May 2025"


def test_the_page_reads_listed_doctors_without_a_query_each(staff_client):
    def queries_for(doctors: int) -> int:
        description = f"{doctors} doctors"
        with acting_as(description=description):
            DoctorFactory.create_batch(doctors)
        change_set = ChangeSet.objects.get(description=description)
        with CaptureQueriesContext(connection) as queries:
            page = _page(staff_client, change_set)
        [section] = page.context["history_sections"]
        assert len(section["rows"]) == doctors
        return len(queries)

    assert queries_for(2) == queries_for(30)
