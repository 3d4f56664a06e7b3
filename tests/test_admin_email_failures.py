"""The welcome email failures page (doctors/admin/email_failures.py)."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from doctors.models import WelcomeEmailFailure
from tests.factories import DoctorFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:doctors_welcomeemailfailure_changelist")


def failures(count: int, *, gave_up: bool) -> list[WelcomeEmailFailure]:
    return [
        WelcomeEmailFailure.objects.create(
            doctor=DoctorFactory(), reason="550 mailbox unavailable", gave_up=gave_up
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("rows", [2, 40])
def test_the_list_names_each_doctor_in_the_same_queries(client, clinic_staff, rows):
    """Every failure shows its doctor, linked, whatever the number of rows."""
    failures(rows, gave_up=True)
    client.force_login(clinic_staff)
    client.get(URL)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    page = response.content.decode()
    first = WelcomeEmailFailure.objects.select_related("doctor").first().doctor
    assert reverse("admin:doctors_doctor_change", args=[first.pk]) in page
    assert "550 mailbox unavailable" in page
    assert len(queries) == 6


def test_send_again_queues_only_those_given_up_on(client, clinic_staff):
    given_up = failures(2, gave_up=True)
    still_trying = failures(1, gave_up=False)
    client.force_login(clinic_staff)
    tasks_before = DBTaskResult.objects.count()

    response = client.post(
        URL,
        {
            "action": "send_again",
            "_selected_action": [f.pk for f in given_up + still_trying],
        },
    )

    assert response.status_code == 302
    (message,) = get_messages(response.wsgi_request)
    assert "Queued 2 welcome email(s) again" in str(message)
    assert DBTaskResult.objects.count() == tasks_before + 1
    assert not WelcomeEmailFailure.objects.filter(gave_up=True).exists()
    assert WelcomeEmailFailure.objects.get(pk=still_trying[0].pk).attempts == 1


def test_managers_cannot_send_again(client, manager):
    """Reading the list is for clinic staff; sending needs the change permission."""
    failures(1, gave_up=True)
    client.force_login(manager)
    assert client.get(URL).status_code == 403
