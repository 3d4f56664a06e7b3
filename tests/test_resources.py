"""The one declaration of the columns (doctors/resources.py) and who uses it."""

import pytest

from doctors import exporting
from doctors.admin.exports import ExportForm
from doctors.importing import runner, validation
from doctors.models import Doctor
from doctors.resources import (
    DEPARTMENT_COLUMNS,
    DOCTOR_COLUMNS,
    DepartmentResource,
    DepartmentsWidget,
    DoctorResource,
    FlagWidget,
    SpecialtyWidget,
)
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.test_importing import HEADER

pytestmark = pytest.mark.django_db


def test_the_columns_and_their_order():
    assert ",".join(DOCTOR_COLUMNS) == HEADER
    assert DEPARTMENT_COLUMNS == ("code", "name", "description", "is_active")


def test_everything_takes_the_columns_from_the_resources():
    assert runner.DOCTORS.columns == DOCTOR_COLUMNS  # the import's header check
    assert runner.DEPARTMENTS.columns == DEPARTMENT_COLUMNS
    assert validation.DOCTOR_FIELDS == (
        "first_name",
        "last_name",
        "email",
        "phone",
        "specialty",
        "is_active",
    )
    form = ExportForm(model_name="doctor")
    assert [value for value, _ in form.fields["columns"].choices] == list(
        DOCTOR_COLUMNS
    )
    assert set(DoctorResource.COLUMN_HELP) == set(DOCTOR_COLUMNS)
    assert set(DepartmentResource.COLUMN_HELP) == set(DEPARTMENT_COLUMNS)


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


def test_widgets_parse_what_they_render():
    flag = FlagWidget()
    assert [flag.clean(v) for v in ["yes", "0", "", True]] == [True, False, True, True]
    with pytest.raises(ValueError):
        flag.clean("maybe")
    assert SpecialtyWidget().clean("Cardiology ") == "cardiology"
    with pytest.raises(ValueError):
        SpecialtyWidget().clean("astrology")
    widget = DepartmentsWidget()
    for text in ["CARD:head|NEUR", "|CARD|NEUR:head", ""]:
        assert widget.render(widget.clean(text)) == text
