"""Hostile files: bounded problems, bounded rows and headers, one-line text
fields, and an export page that escapes what it echoes."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from doctors.importing import validation
from doctors.importing.parsing import FIELD_SIZE_LIMIT, MAX_ROW_CHARS
from doctors.importing.runner import import_departments
from doctors.management.importing import LISTED_PROBLEMS
from doctors.models import Department, Doctor, ImportRun
from doctors.validators import validate_single_line
from tests.factories import DepartmentFactory
from tests.test_importing import HEADER, csv_bytes, run, snapshot

pytestmark = pytest.mark.django_db

GOOD = "LIC-{n},Ann,Lee,ann{n}@clinic.test,,Cardiology,CARD,"


@pytest.fixture
def card():
    return DepartmentFactory(code="CARD", name="Cardiology")


def message_sizes(result) -> int:
    return sum(len(str(problem)) for problem in result.problems)


class TestExportEscapes:
    def test_invalid_filter_is_echoed_escaped(self, staff_client):
        markup = '<meta http-equiv="refresh" content="0;url=https://example.org">'
        response = staff_client.get(
            reverse("admin:doctors_doctor_export"), {"id": markup}
        )
        assert response.status_code == 400
        page = response.content.decode()
        assert "<meta" not in page
        assert "&lt;meta http-equiv=&quot;refresh&quot;" in page
        assert "These list filters are not valid" in page


class TestBoundedProblems:
    def test_a_cell_of_65000_separators_gives_one_short_problem(self, card):
        hostile = "LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD" + "|" * 65_000 + ","
        before = snapshot()
        result = run(csv_bytes(hostile))
        assert result.problem_count == 1
        (problem,) = result.problems
        assert (problem.row, problem.column) == (2, "departments")
        assert "65001 entries, but there are only 1 departments" in problem.message
        assert snapshot() == before

    def test_only_the_first_problems_are_kept_with_the_total(self, card):
        rows = [f"LIC-{n},Ann,Lee,not-an-email,,Nope,XRAY,maybe" for n in range(700)]
        result = run(csv_bytes(*rows))
        # Four problems per row (email, specialty, departments, is_active).
        assert result.problem_count == 2800
        assert len(result.problems) == validation.MAX_PROBLEMS
        assert result.summary().endswith("2800 problems found; nothing was imported.")
        stored = ImportRun.objects.get()
        assert stored.error_count == 2800
        assert len(stored.errors) == validation.MAX_PROBLEMS

    def test_long_values_are_cut_with_an_ellipsis_in_messages(self, card):
        long_specialty = "x" * 5000
        result = run(csv_bytes(f"LIC-1,Ann,Lee,a@clinic.test,,{long_specialty},,"))
        (problem,) = result.problems
        assert problem.column == "specialty"
        assert "…" in problem.message
        assert len(problem.message) <= validation.MESSAGE_LIMIT

    def test_huge_header_gives_a_short_message(self):
        header = HEADER + "," * 1_000
        result = run(csv_bytes(header=header))
        (problem,) = result.problems
        assert problem.row == 1
        assert "unknown column(s): (blank), (blank)" in problem.message
        assert "and 990 more" in problem.message
        assert len(problem.message) < 400

    def test_a_row_longer_than_the_limit_is_refused_before_it_is_split(self, card):
        line = "a," * (MAX_ROW_CHARS // 2 + 10)
        result = run(csv_bytes(GOOD.format(n=1), line, GOOD.format(n=2)))
        (problem,) = result.problems
        assert problem.row == 3
        assert f"longer than {MAX_ROW_CHARS:,} characters" in problem.message
        assert not Doctor.objects.exists()

    def test_an_unbalanced_quote_is_named(self, card):
        result = run(csv_bytes(GOOD.format(n=1), 'LIC-2,"Ann' + "x" * FIELD_SIZE_LIMIT))
        (problem,) = result.problems
        assert problem.row == 3
        assert "closing double quote missing" in problem.message

    def test_command_output_is_bounded(self, card, tmp_path):
        rows = [f"LIC-{n},Ann,Lee,bad,,Nope,XRAY," + "y" * 500 for n in range(2000)]
        path = tmp_path / "hostile.csv"
        path.write_bytes(csv_bytes(*rows))
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError, match="problems found"):
            call_command("import_doctors", str(path), stdout=out, stderr=err)
        lines = err.getvalue().splitlines()
        assert len(lines) == LISTED_PROBLEMS + 1
        run = ImportRun.objects.get()
        assert lines[-1].endswith(
            f"… and 7900 more problem(s) not listed; the first 1000 are in the "
            f"import log (import run {run.pk})."
        )
        assert len(err.getvalue()) < 400 * (LISTED_PROBLEMS + 1)
        assert (run.error_count, len(run.errors)) == (8000, validation.MAX_PROBLEMS)


class TestTextFields:
    @pytest.mark.parametrize(
        ("column", "row", "what"),
        [
            (
                "first_name",
                'LIC-1,"An\nn",Lee,a@clinic.test,,Cardiology,,',
                "a line break",
            ),
            ("last_name", "LIC-1,Ann,Le\x00e,a@clinic.test,,Cardiology,,", "NUL"),
            ("phone", "LIC-1,Ann,Lee,a@clinic.test,1\t2,Cardiology,,", "a tab"),
            (
                "email",
                'LIC-1,Ann,Lee,"a@clinic.test\r\nBcc: x",,Cardiology,,',
                "a line break",
            ),
            (
                "license_number",
                '"LIC\n1",Ann,Lee,a@clinic.test,,Cardiology,,',
                "a line break",
            ),
        ],
    )
    def test_control_characters_are_refused_with_row_and_column(
        self, card, column, row, what
    ):
        before = snapshot()
        result = run(csv_bytes(row), encoding="utf-8")
        assert [(p.row, p.column) for p in result.problems] == [(2, column)]
        assert what in result.problems[0].message
        assert snapshot() == before

    def test_surrounding_whitespace_is_trimmed(self, card):
        result = run(csv_bytes('LIC-1,"  Ann\t",Lee ,a@clinic.test,,Cardiology,,'))
        assert result.ok, result.problems
        doctor = Doctor.objects.get()
        assert (doctor.first_name, doctor.last_name) == ("Ann", "Lee")

    def test_department_descriptions_may_hold_line_breaks(self):
        data = "code,name,description,is_active\r\n"
        data += 'CARD,Cardiology,"Floor 2\r\nWing B",\r\n'
        result = import_departments(io.BytesIO(data.encode()), file_name="d.csv")
        assert result.ok, result.problems
        assert Department.objects.get().description == "Floor 2\r\nWing B"

    def test_department_names_may_not(self):
        data = 'code,name,description,is_active\r\nCARD,"Cardio\nlogy",,\r\n'
        result = import_departments(io.BytesIO(data.encode()), file_name="d.csv")
        assert [(p.row, p.column) for p in result.problems] == [(2, "name")]

    def test_the_same_rule_guards_the_admin_form(self, staff_client, card):
        response = staff_client.post(
            reverse("admin:doctors_doctor_add"),
            {
                "license_number": "LIC-9",
                "first_name": "An\nn",
                "last_name": "Lee",
                "email": "ann@clinic.test",
                "specialty": "cardiology",
                "is_active": "on",
                "memberships-TOTAL_FORMS": "0",
                "memberships-INITIAL_FORMS": "0",
            },
        )
        assert response.status_code == 200
        assert "found a line break" in response.content.decode()
        assert not Doctor.objects.exists()

    def test_validator_names_the_character_and_its_position(self):
        with pytest.raises(ValidationError) as caught:
            validate_single_line("ab\x07")
        assert caught.value.messages == [
            "Must be on one line without control characters: found the control "
            "character U+0007 at character 3."
        ]
        validate_single_line("Zoë O'Brien-Łukasz")
