"""Actions "from a day" on the member list when one doctor's two rows are
chosen (a period ending soon and the next one): both name the period on that
day, which changes once and is told once."""

import datetime

import pytest
from django.urls import reverse
from django.utils.formats import date_format

from doctors import period_changes, periods
from doctors.models import Membership
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:doctors_membership_changelist")


def _two_rows(*, is_primary: bool):
    department = DepartmentFactory(name="Cardiology")
    doctor = DoctorFactory(first_name="Ann", last_name="Lee")
    today = periods.today()
    now = period_changes.join(
        doctor, department, first_day=today, is_primary=is_primary
    )
    period_changes.leave([now], today + datetime.timedelta(days=9))
    later = period_changes.join(
        doctor,
        department,
        first_day=today + datetime.timedelta(days=30),
        is_primary=is_primary,
    )
    return department, [now, later], today + datetime.timedelta(days=40)


def _run(client, department, action, rows, day):
    return client.post(
        f"{LIST_URL}?department={department.pk}",
        {
            "action": action,
            "_selected_action": [row.pk for row in rows],
            "index": "0",
            "effective_on": day.isoformat(),
        },
        follow=True,
    )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _periods(department):
    return sorted(
        Membership.objects.filter(department=department).values_list(
            "joined_on", "left_on", "is_primary"
        )
    )


def test_unset_primary_changes_the_period_once(staff_client):
    department, rows, day = _two_rows(is_primary=True)
    response = _run(staff_client, department, "unset_primary", rows, day)
    assert _messages(response) == [
        "Cardiology: no longer the primary department of Dr Ann Lee from "
        f"{date_format(day, 'j M Y')}."
    ]
    today = periods.today()
    assert _periods(department) == [
        (today, today + datetime.timedelta(days=9), True),
        (
            today + datetime.timedelta(days=30),
            day - datetime.timedelta(days=1),
            True,
        ),
        (day, None, False),
    ]


def test_set_primary_changes_the_period_once(staff_client):
    department, rows, day = _two_rows(is_primary=False)
    response = _run(staff_client, department, "set_primary", rows, day)
    assert len(_messages(response)) == 1
    assert Membership.objects.covering(day).get(department=department).is_primary


def test_an_already_primary_period_is_told_once(staff_client):
    department, rows, day = _two_rows(is_primary=True)
    response = _run(staff_client, department, "set_primary", rows, day)
    assert _messages(response) == [
        "Cardiology is already the primary department of Dr Ann Lee on "
        f"{date_format(day, 'j M Y')}."
    ]
