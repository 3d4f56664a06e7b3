"""No page a person opens shows a model's field name ("joined_on",
"is_primary"): labels, headers, summaries and filters use verbose names."""

import datetime
import re

import pytest
from django.apps import apps
from django.urls import reverse

from doctors.context import acting_as
from doctors.models import ChangeSet, Doctor
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.visible_text import visible_text

pytestmark = pytest.mark.django_db


def field_names_with_underscores() -> set[str]:
    """Every field name of the clinic's models that a person would recognise as
    code: the ones with an underscore."""
    names = set()
    for model in apps.get_app_config("doctors").get_models():
        for field in model._meta.get_fields():
            if "_" in field.name.strip("_"):
                names.add(field.name)
            attname = getattr(field, "attname", "")
            if "_" in attname.strip("_"):
                names.add(attname)
    return names


def test_the_list_of_field_names_is_real():
    names = field_names_with_underscores()
    assert {"joined_on", "is_primary", "license_number", "department_text"} <= names


def test_visible_text_is_what_a_person_reads():
    """Text in the page counts; attribute values, scripts, styles and hidden
    elements do not."""
    html = """<html><head><title>t</title><style>.is_active{}</style></head>
    <body><label for="id_is_active">Active</label><input name="is_active">
    <script>var joined_on = 1;</script><p hidden>license_number</p>
    <td>joined_on: 1 Mar → 2 Mar</td></body></html>"""
    assert visible_text(html) == "Active\njoined_on: 1 Mar → 2 Mar"


@pytest.fixture
def clinic(superuser):
    cardiology = DepartmentFactory(name="Cardiology", code="CARD")
    doctor = DoctorFactory(first_name="Ada", last_name="Byron")
    with acting_as(superuser, source="admin", reason="Moved from the night rota"):
        membership = MembershipFactory(
            doctor=doctor, department=cardiology, is_primary=True
        )
        membership.joined_on = datetime.date(2026, 1, 5)
        membership.role = "head"
        membership.save()
        doctor.specialty = "internal_medicine"
        doctor.save()
    return {"doctor": doctor, "department": cardiology}


def pages(clinic) -> list[str]:
    doctor, department = clinic["doctor"], clinic["department"]
    version = Doctor.history.filter(id=doctor.pk).latest("history_id")
    change_set = ChangeSet.objects.latest("pk")
    return [
        reverse("admin:index"),
        reverse("admin:dashboard"),
        reverse("admin:doctors_doctor_changelist"),
        reverse("admin:doctors_doctor_change", args=[doctor.pk]),
        reverse("admin:doctors_doctor_add"),
        reverse("admin:doctors_doctor_history", args=[doctor.pk]),
        reverse(
            "admin:doctors_doctor_simple_history", args=[doctor.pk, version.history_id]
        ),
        reverse("admin:doctors_doctor_export"),
        reverse("admin:doctors_doctor_import"),
        reverse("admin:doctors_department_changelist"),
        reverse("admin:doctors_department_change", args=[department.pk]),
        reverse("admin:doctors_department_history", args=[department.pk]),
        reverse("admin:doctors_department_members_on", args=[department.pk]),
        reverse("admin:doctors_department_export"),
        reverse("admin:doctors_activityevent_changelist"),
        reverse("admin:doctors_changeset_changelist"),
        reverse("admin:doctors_changeset_change", args=[change_set.pk]),
        reverse("admin:doctors_importrun_changelist"),
        reverse("admin:doctors_membership_changelist")
        + f"?department__id__exact={department.pk}",
    ]


def test_no_page_shows_a_field_name(client, superuser, clinic):
    names = field_names_with_underscores()
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names))) + r")\b")
    client.force_login(superuser)
    found = {}
    for url in pages(clinic):
        response = client.get(url)
        assert response.status_code == 200, url
        # A file's column headers, set as code on the import page, are what the
        # file must say: the one place a field name is the word staff need.
        text = visible_text(response.content.decode(), skip=("code",))
        hits = sorted(set(pattern.findall(text)))
        if hits:
            found[url] = hits
    assert not found, f"Field names shown to staff: {found}"
