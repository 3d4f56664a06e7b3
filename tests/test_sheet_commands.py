"""import_doctors / import_departments / export_doctors with workbooks, TSV and
JSON: the format from the file name or --format, and --columns."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from doctors.models import Department, Doctor, ImportRun
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.test_importing import HEADER, snapshot
from tests.test_sources import FIXTURES, xlsx

pytestmark = pytest.mark.django_db


def command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def card():
    return DepartmentFactory(code="CARD", name="Cardiology")


def test_import_doctors_from_an_xlsx_file(tmp_path, card):
    path = tmp_path / "staff.xlsx"
    path.write_bytes(
        xlsx(["LIC-1", "Ann", "Lee", "a@c.test", 5551234, "cardiology", "CARD", True])
    )
    out, err = command("import_doctors", str(path))
    assert err == ""
    assert "Import of staff.xlsx: 1 rows; created 1" in out
    assert Doctor.objects.get().phone == "5551234"
    assert ImportRun.objects.get().file_format == "xlsx"


def test_import_problems_name_the_cell(tmp_path, card):
    path = tmp_path / "staff.xlsx"
    path.write_bytes(xlsx(["LIC-1", "Ann", "Lee", "bad", "", "cardiology", "", 1]))
    before = snapshot()
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 problem found"):
        call_command("import_doctors", str(path), stdout=io.StringIO(), stderr=err)
    assert "Row 2, column email (cell Doctors!D2):" in err.getvalue()
    assert snapshot() == before


def test_import_departments_from_the_departments_sheet(tmp_path):
    out, _ = command("import_departments", str(FIXTURES / "doctors.ods"), "--dry-run")
    assert "would create 2" in out


def test_format_option_for_a_file_without_the_right_name(tmp_path, card):
    path = tmp_path / "export.dat"
    record = dict(
        zip(
            HEADER.split(","),
            ["LIC-1", "Ann", "Lee", "a@c.test", "", "cardiology", "CARD", True],
            strict=True,
        )
    )
    path.write_text(json.dumps([record]))
    out, _ = command("import_doctors", str(path), "--format", "json")
    assert "created 1" in out
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 problem found"):
        call_command(
            "import_doctors",
            str(FIXTURES / "doctors.ods"),
            "--format",
            "xlsx",
            stdout=io.StringIO(),
            stderr=err,
        )
    assert "You chose Excel workbook (.xlsx), but this file is an OpenDocument" in (
        err.getvalue()
    )


@pytest.fixture
def doctors(card):
    ann = DoctorFactory(license_number="LIC-1", first_name="=Ann")
    MembershipFactory(doctor=ann, department=card, role="head", is_primary=True)
    DoctorFactory(license_number="LIC-2", is_active=False)


@pytest.mark.parametrize("extension", ["xlsx", "ods", "json", "csv", "tsv"])
def test_export_doctors_by_file_name_and_back(tmp_path, doctors, extension):
    path = tmp_path / f"doctors.{extension}"
    out, _ = command("export_doctors", "--output", str(path))
    assert f"Exported 2 doctors to {path}." in out
    before = snapshot()
    out, _ = command("import_doctors", str(path))
    assert "created 0, updated 0, 2 unchanged" in out
    assert snapshot()["doctor values"] == before["doctor values"]


def test_export_doctors_xlsx_cells(tmp_path, doctors):
    path = tmp_path / "out.bin"
    command("export_doctors", "--output", str(path), "--format", "xlsx")
    with open(path, "rb") as stream:
        sheet = load_workbook(stream)["Doctors"]
    assert sheet["B2"].value == "=Ann" and sheet["B2"].data_type == "s"
    assert sheet["H3"].value is False


def test_export_doctors_json_to_stdout_with_columns(doctors):
    out, err = command(
        "export_doctors", "--format", "json", "--columns", "license_number,is_active"
    )
    assert json.loads(out) == [
        {"license_number": "LIC-1", "is_active": True},
        {"license_number": "LIC-2", "is_active": False},
    ]
    assert err.strip() == "Exported 2 doctors."


def test_export_doctors_refusals(doctors):
    with pytest.raises(CommandError, match="cannot go to standard output"):
        command("export_doctors", "--format", "xlsx")
    with pytest.raises(CommandError, match="unknown column"):
        command("export_doctors", "--columns", "license_number,salary")
    assert Department.objects.count() == 1
