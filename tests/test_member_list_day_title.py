"""The member list's heading says which day it lists when a day is chosen."""

import datetime

import pytest
from django.urls import reverse
from django.utils.formats import date_format

from tests.factories import DepartmentFactory, MembershipFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:doctors_membership_changelist")


def test_the_heading_names_the_chosen_day(staff_client):
    department = DepartmentFactory(name="Cardiology")
    MembershipFactory(department=department)
    day = datetime.date(2020, 1, 1)
    page = staff_client.get(f"{LIST_URL}?department={department.pk}&on={day}")
    assert page.context["title"] == f"Members of Cardiology on {date_format(day)}"


def test_without_a_day_the_heading_is_the_department(staff_client):
    department = DepartmentFactory(name="Cardiology")
    page = staff_client.get(f"{LIST_URL}?department={department.pk}")
    assert page.context["title"] == "Members of Cardiology"
