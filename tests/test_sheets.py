"""Export in every format (doctors/exporting.py, doctors/sheets.py): typed,
formula-safe cells, a frozen and sized header, and files that import back with
no change."""

import datetime
import io
import json
import re
import zipfile

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from doctors import exporting, sheets
from doctors.importing.runner import import_departments, import_doctors
from doctors.models import Department, Doctor
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.test_importing import HEADER, snapshot

pytestmark = pytest.mark.django_db
ONE_YEAR = datetime.timedelta(days=365)

# Names are single-line (doctors.validators); line breaks are tried in a
# department's description.
TRICKY = ["=1+2", "+1 555 0100", "-minus", "@at", "'=quoted", "Zoë\u00a0Ünicode", "  "]


@pytest.fixture
def doctors():
    card = DepartmentFactory(code="CARD", name="Cardiology")
    neur = DepartmentFactory(code="NEUR", name="=Neurology", description="-x\ny")
    DepartmentFactory(code="OLD", name="Old", is_active=False)
    made = []
    for n, text in enumerate(TRICKY):
        doctor = DoctorFactory(
            license_number=f"LIC-{n}",
            first_name=text.strip() or "Plain",
            phone=text.strip(),
            is_active=n % 2 == 0,
        )
        made.append(doctor)
    MembershipFactory(doctor=made[0], department=card, role="head", is_primary=True)
    MembershipFactory(doctor=made[0], department=neur)
    MembershipFactory(doctor=made[1], department=neur)  # none primary: "|NEUR"
    MembershipFactory(doctor=made[2], department=card, is_primary=True)
    return made


def export(file_format: str, model=Doctor, columns=None) -> bytes:
    rows = (
        exporting.doctor_rows(Doctor.objects.order_by("pk"), columns)
        if model is Doctor
        else exporting.department_rows(Department.objects.order_by("pk"), columns)
    )
    if file_format in sheets.BINARY:
        stream = io.BytesIO()
        exporting.write(file_format, rows, stream, model=model)
        return stream.getvalue()
    text = io.StringIO()
    exporting.write(file_format, rows, text, model=model)
    return text.getvalue().encode("utf-8")


FORMATS = ["csv", "tsv", "json", "xlsx", "ods"]


@pytest.mark.parametrize("file_format", FORMATS)
def test_doctors_round_trip_unchanged(doctors, file_format):
    data = export(file_format)
    before = snapshot()
    result = import_doctors(io.BytesIO(data), file_name=f"doctors.{file_format}")
    assert [str(p) for p in result.problems] == []
    assert (result.created, result.updated, result.unchanged) == (0, 0, len(doctors))
    assert snapshot() == before
    assert result.file_format == file_format


@pytest.mark.parametrize("file_format", FORMATS)
def test_departments_round_trip_unchanged(doctors, file_format):
    data = export(file_format, model=Department)
    result = import_departments(io.BytesIO(data), file_name=f"d.{file_format}")
    assert [str(p) for p in result.problems] == []
    assert (result.created, result.updated, result.unchanged) == (0, 0, 3)


@pytest.mark.parametrize("file_format", FORMATS)
def test_an_export_fills_an_empty_database_exactly(doctors, file_format):
    """Import the export into a database without the doctors: the same values."""
    data = export(file_format)
    values = sorted(
        Doctor.objects.values_list("license_number", "first_name", "phone", "is_active")
    )
    memberships = sorted(
        Doctor.objects.values_list(
            "license_number",
            "memberships__department__code",
            "memberships__is_primary",
            "memberships__role",
        )
    )
    Doctor.objects.all().delete()
    result = import_doctors(io.BytesIO(data), file_name=f"doctors.{file_format}")
    assert result.ok and result.created == len(doctors)
    assert (
        sorted(
            Doctor.objects.values_list(
                "license_number", "first_name", "phone", "is_active"
            )
        )
        == values
    )
    assert (
        sorted(
            Doctor.objects.values_list(
                "license_number",
                "memberships__department__code",
                "memberships__is_primary",
                "memberships__role",
            )
        )
        == memberships
    )


def test_xlsx_cells_are_typed_text_is_never_a_formula(doctors):
    workbook = load_workbook(io.BytesIO(export("xlsx")))
    sheet = workbook["Doctors"]
    assert [cell.value for cell in sheet[1]] == HEADER.split(",")
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    widths = [sheet.column_dimensions[letter].width for letter in "ABCDEFGH"]
    assert all(8 <= width <= 48 for width in widths)
    assert sheet.column_dimensions["D"].width > sheet.column_dimensions["H"].width
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
    first = {cell.column_letter: cell for cell in sheet[2]}
    assert first["B"].value == "=1+2" and first["B"].data_type == "s"
    assert first["H"].value is True and first["H"].data_type == "b"
    assert first["G"].value == "CARD:head|NEUR"
    assert {cell.value for cell in sheet["H"][1:]} == {True, False}
    second = {cell.column_letter: cell for cell in sheet[3]}
    assert second["E"].value == "+1 555 0100" and second["E"].data_type == "s"
    assert second["G"].value == "|NEUR"


def test_xlsx_cells_seen_through_the_raw_xml(doctors):
    """No <f> element anywhere: nothing in the file is a formula."""
    with zipfile.ZipFile(io.BytesIO(export("xlsx"))) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml
    assert '<pane ySplit="1"' in xml and 'state="frozen"' in xml


def test_ods_cells_are_typed_and_the_header_frozen(doctors):
    with zipfile.ZipFile(io.BytesIO(export("ods"))) as archive:
        assert archive.namelist()[0] == "mimetype"
        assert archive.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        content = archive.read("content.xml").decode()
        settings = archive.read("settings.xml").decode()
    assert "table:formula" not in content
    assert 'office:value-type="boolean" office:boolean-value="true"' in content
    assert '<table:table table:name="Doctors">' in content
    assert "<text:p>=1+2</text:p>" in content
    assert len(re.findall(r'style:column-width="[\d.]+cm"', content)) == 8
    assert '"VerticalSplitPosition" config:type="int">1<' in settings


def test_ods_keeps_spaces_tabs_and_line_breaks():
    paragraph = sheets._ods_paragraphs("  two  spaces\tand\n line")
    assert paragraph == (
        '<text:p><text:s text:c="2"/>two <text:s text:c="1"/>spaces<text:tab/>and'
        '</text:p><text:p><text:s text:c="1"/>line</text:p>'
    )


def test_csv_and_json_values(doctors):
    text = export("csv").decode("utf-8")
    assert text.startswith(sheets.BOM + HEADER)
    assert "'=1+2" in text and "'+1 555 0100" in text and "''=quoted" in text
    records = json.loads(export("json"))
    assert records[0]["first_name"] == "=1+2"  # JSON is never run as a formula
    assert records[0]["is_active"] is True and records[1]["is_active"] is False
    assert list(records[0]) == HEADER.split(",")


def test_chosen_columns_only(doctors):
    records = json.loads(export("json", columns=["email", "license_number"]))
    assert list(records[0]) == ["license_number", "email"]  # the Resource's order
    with pytest.raises(ValueError, match="unknown column"):
        list(exporting.doctor_rows(Doctor.objects.all(), ["salary"]))


def test_dates_are_date_cells_in_workbooks():
    import datetime

    day = datetime.date(2026, 1, 31)
    stream = io.BytesIO()
    sheets.write_xlsx(iter([["day"], [day]]), stream, sheet="S", widths={})
    cell = load_workbook(stream)["S"]["A2"]
    assert cell.is_date and cell.number_format == "yyyy-mm-dd"
    assert 'table:style-name="date" office:value-type="date"' in sheets._ods_cell(day)
    assert 'office:date-value="2026-01-31"' in sheets._ods_cell(day)
    assert list(sheets.json_chunks(iter([["day"], [day]])))[1].endswith(
        '{"day": "2026-01-31"}'
    )


def test_export_queries_do_not_grow_with_rows(django_assert_num_queries):
    card = DepartmentFactory(code="CARD")
    for _ in range(30):
        MembershipFactory(doctor=DoctorFactory(), department=card, is_primary=True)
    # Department codes, the doctors, and their memberships per 2000 doctors.
    with django_assert_num_queries(3):
        rows = list(exporting.doctor_rows(Doctor.objects.all()))
    assert len(rows) == 31


def test_the_departments_cell_holds_current_memberships_only(doctors):
    """A past and a later period are no current membership: the export leaves
    them out, and importing it keeps both as they are."""
    today = timezone.localdate()
    card, neur = (
        Department.objects.get(code="CARD"),
        Department.objects.get(code="NEUR"),
    )
    doctor = doctors[3]
    MembershipFactory(
        doctor=doctor,
        department=card,
        joined_on=today - datetime.timedelta(days=90),
        left_on=today - datetime.timedelta(days=1),
    )
    MembershipFactory(
        doctor=doctor, department=neur, joined_on=today + datetime.timedelta(days=7)
    )
    MembershipFactory(
        doctor=doctor,
        department=neur,
        joined_on=today - ONE_YEAR,
        left_on=today + datetime.timedelta(days=6),
    )
    rows = list(exporting.doctor_rows(Doctor.objects.filter(pk=doctor.pk)))
    cell = rows[1][rows[0].index("departments")]
    assert cell == "|NEUR"
    before = snapshot()
    result = import_doctors(io.BytesIO(export("csv")), file_name="doctors.csv")
    assert result.ok and result.unchanged == len(doctors)
    assert snapshot() == before
