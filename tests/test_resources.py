"""The one declaration of the columns (doctors/resources.py) and who uses it."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from doctors import exporting
from doctors.admin.exports import ExportForm
from doctors.models import Doctor
from doctors.resources import DEPARTMENT_COLUMNS, DOCTOR_COLUMNS, DoctorResource
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.test_importing import HEADER

pytestmark = pytest.mark.django_db


def test_the_columns_and_their_order():
    assert ",".join(DOCTOR_COLUMNS) == HEADER
    assert DEPARTMENT_COLUMNS == ("code", "name", "description", "is_active")


def test_the_pages_name_and_explain_every_column(staff_client):
    """The upload page lists the declared columns with their help, and the
    export page offers each of them."""
    doctor_help = DoctorResource.COLUMN_HELP
    page = staff_client.get(reverse("admin:doctors_doctor_import")).content.decode()
    assert ", ".join(DOCTOR_COLUMNS) in page
    for text in doctor_help.values():
        assert escape(text) in page
    form = ExportForm(model_name="department")
    assert [value for value, _ in form.fields["columns"].choices] == list(
        DEPARTMENT_COLUMNS
    )


def test_import_exports_own_export_gives_the_same_rows_as_ours():
    """django-import-export's row-by-row export of the Resource and our chunked
    one render every value alike."""
    card = DepartmentFactory(code="CARD")
    neur = DepartmentFactory(code="NEUR")
    ann = DoctorFactory(license_number="LIC-1", phone="=1", is_active=False)
    MembershipFactory(doctor=ann, department=card, role="head")
    MembershipFactory(doctor=ann, department=neur, is_primary=True)
    DoctorFactory(license_number="LIC-2")
    queryset = Doctor.objects.order_by("license_number")
    dataset = DoctorResource().export(queryset)
    assert tuple(dataset.headers) == DOCTOR_COLUMNS
    ours = list(exporting.doctor_rows(queryset))
    assert [list(row) for row in dataset] == ours[1:]
    assert ours[1][6] == "NEUR|CARD:head" and ours[1][7] is False
