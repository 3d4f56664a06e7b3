"""The member list's date selector (doctors/admin/member_days.py): the members
on any day, past or future."""

import datetime

import pytest
from django.urls import reverse

from doctors import period_changes
from tests.factories import DepartmentFactory, DoctorFactory
from tests.visible_text import visible_text

pytestmark = pytest.mark.django_db
URL = reverse("admin:doctors_membership_changelist")


@pytest.fixture
def cardiology():
    card = DepartmentFactory(code="CARD", name="Cardiology")
    for name, first, last in [
        ("Ada", datetime.date(2016, 4, 1), datetime.date(2025, 3, 31)),
        ("Bob", datetime.date(2024, 1, 1), None),
        ("Cy", datetime.date(2099, 1, 1), None),
    ]:
        doctor = DoctorFactory(first_name=name, last_name="Doe")
        period_changes.join(doctor, card, first_day=first, last_day=last)
    # Someone elsewhere on every day asked about.
    period_changes.join(
        DoctorFactory(first_name="Eve"),
        DepartmentFactory(code="NEUR"),
        first_day=datetime.date(2000, 1, 1),
    )
    return card


def names(response) -> list[str]:
    assert response.status_code == 200
    return sorted(m.doctor.first_name for m in response.context["cl"].result_list)


def test_without_a_day_current_and_future_members(staff_client, cardiology):
    response = staff_client.get(URL, {"department": cardiology.pk})
    assert names(response) == ["Bob", "Cy"]


def test_members_on_a_past_and_a_future_day(staff_client, cardiology):
    scope = {"department": cardiology.pk}
    assert names(staff_client.get(URL, {**scope, "on": "2025-01-01"})) == [
        "Ada",
        "Bob",
    ]
    assert names(staff_client.get(URL, {**scope, "on": "2025-04-01"})) == ["Bob"]
    assert names(staff_client.get(URL, {**scope, "on": "2099-06-01"})) == [
        "Bob",
        "Cy",
    ]
    # The day and the other choices together: searched, and every department.
    assert names(staff_client.get(URL, {**scope, "on": "2025-01-01", "q": "Ada"})) == [
        "Ada"
    ]
    assert names(staff_client.get(URL, {"on": "2025-01-01"})) == ["Ada", "Bob", "Eve"]


def test_the_selector_keeps_the_lists_other_choices(staff_client, cardiology):
    response = staff_client.get(
        URL, {"department": cardiology.pk, "on": "2025-01-01", "q": "Doe", "p": "1"}
    )
    page = response.content.decode()
    assert f'<input type="hidden" name="department" value="{cardiology.pk}">' in page
    assert '<input type="hidden" name="q" value="Doe">' in page
    assert (
        'name="p"' not in page.split('id="members-on-day-form"')[1].split("</form>")[0]
    )
    assert 'value="2025-01-01"' in page
    text = visible_text(page)
    assert "Members on a day" in text
    assert "On 1 January 2025" in text
    assert "Current and future members" in text


def test_a_day_that_is_no_day_is_refused_as_any_bad_filter(staff_client, cardiology):
    for bad in ("yesterday", "2025-02-30", "9999-12-31"):
        response = staff_client.get(URL, {"department": cardiology.pk, "on": bad})
        assert response.status_code == 302
        assert response.url.endswith("?e=1")
