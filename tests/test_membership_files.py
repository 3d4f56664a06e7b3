"""Import and export of membership periods (doctors.importing.memberships):
rows matched by (license number, department, first day), the rules checked on
the state after the whole file, every format, undo per period."""

import datetime
import io

import pytest
from django.core.management import call_command

from doctors import sheets, undo
from doctors.importing.memberships import exporting
from doctors.importing.memberships.runner import import_memberships
from doctors.models import ActivityEvent, ImportRun, Membership
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db

HEADER = "license_number,department,role,primary,joined_on,left_on\n"
D = datetime.date


def periods() -> list[tuple]:
    """Every stored period, in a stable order, as the file names it."""
    return list(
        Membership.objects.order_by(
            "doctor__license_number", "department__code", "joined_on"
        ).values_list(
            "doctor__license_number",
            "department__code",
            "role",
            "is_primary",
            "joined_on",
            "left_on",
        )
    )


def run(text: str, *, dry_run: bool = False, name: str = "periods.csv", **options):
    return import_memberships(
        io.BytesIO(text.encode()), file_name=name, dry_run=dry_run, **options
    )


@pytest.fixture
def clinic():
    return build_clinic()


def build_clinic() -> dict:
    """CARD and NEUR; doctors A-1 (in CARD since 2020, head) and B-2 (in CARD
    2019 to 2021, then again from 2023)."""
    card = DepartmentFactory(code="CARD", name="Cardiology")
    neur = DepartmentFactory(code="NEUR", name="Neurology")
    a = DoctorFactory(license_number="A-1", first_name="Ann", last_name="Abbott")
    b = DoctorFactory(license_number="B-2", first_name="Ben", last_name="Baker")
    Membership.objects.create(
        doctor=a, department=card, role="head", is_primary=True, joined_on=D(2020, 1, 1)
    )
    Membership.objects.create(
        doctor=b, department=card, joined_on=D(2019, 1, 1), left_on=D(2021, 6, 30)
    )
    Membership.objects.create(doctor=b, department=card, joined_on=D(2023, 1, 1))
    return {"card": card, "neur": neur, "a": a, "b": b}


def test_rows_correct_matched_periods_and_add_new_ones(clinic):
    result = run(
        HEADER
        + "B-2,CARD,member,false,2019-01-01,2021-12-31\n"
        + "B-2,neur,member,yes,2022-01-01,\n"
    )
    assert result.ok, result.problems
    assert (result.created, result.updated, result.unchanged) == (1, 1, 0)
    assert periods() == [
        ("A-1", "CARD", "head", True, D(2020, 1, 1), None),
        ("B-2", "CARD", "member", False, D(2019, 1, 1), D(2021, 12, 31)),
        ("B-2", "CARD", "member", False, D(2023, 1, 1), None),
        ("B-2", "NEUR", "member", True, D(2022, 1, 1), None),
    ]
    run_record = ImportRun.objects.get()
    assert run_record.kind == ImportRun.Kind.MEMBERSHIPS
    assert run_record.change_set is not None
    event = ActivityEvent.objects.get(verb=ActivityEvent.Verb.IMPORTED)
    assert event.target_type == "membership"
    history = Membership.history.filter(change_set=run_record.change_set)
    assert sorted(history.values_list("history_type", flat=True)) == ["+", "~"]


def test_a_dry_run_writes_nothing_and_lists_the_changes(clinic):
    before = periods()
    result = run(HEADER + "A-1,CARD,head,true,2020-01-01,2024-12-31\n", dry_run=True)
    assert result.ok
    assert periods() == before
    (change,) = result.row_changes
    assert change.key == "A-1 in CARD from 2020-01-01"
    assert change.action == "updated"
    assert change.changes == {"left_on": ["", "2024-12-31"]}
    assert ImportRun.objects.get().status == ImportRun.Status.PREVIEWED


def test_rows_the_file_does_not_name_are_kept_and_unchanged_rows_counted(clinic):
    result = run(HEADER + "A-1,CARD,head,true,2020-01-01,\n")
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    assert len(periods()) == 3
    assert not ActivityEvent.objects.filter(verb=ActivityEvent.Verb.IMPORTED).exists()


def refused(text: str, name: str = "periods.csv") -> list[str]:
    before = periods()
    history = Membership.history.count()
    result = run(text, name=name)
    assert not result.ok
    assert periods() == before
    assert Membership.history.count() == history
    (record,) = ImportRun.objects.all()
    assert record.status == ImportRun.Status.FAILED
    assert record.change_set is None
    assert not ActivityEvent.objects.filter(verb=ActivityEvent.Verb.IMPORTED).exists()
    return [str(problem) for problem in result.problems]


def test_an_overlap_with_a_stored_period_refuses_the_file_naming_the_row(clinic):
    problems = refused(
        HEADER
        + "A-1,NEUR,member,false,2021-01-01,\n"
        + "B-2,CARD,member,false,2021-01-01,2022-12-31\n"
    )
    assert len(problems) == 1
    assert problems[0].startswith(
        "Row 3, column joined_on: doctor B-2 would be in CARD"
    )
    assert "the stored period 1 Jan 2019 to 30 Jun 2021" in problems[0]


def test_two_rows_overlapping_each_other_name_both_rows(clinic):
    problems = refused(
        HEADER
        + "A-1,NEUR,member,false,2021-01-01,2021-12-31\n"
        + "A-1,NEUR,member,false,2021-06-01,\n"
    )
    assert problems == [
        "Row 3, column joined_on: doctor A-1 would be in NEUR twice on some days: "
        "this period (from 1 Jun 2021) overlaps row 2 (1 Jan 2021 to "
        "31 Dec 2021)"
    ]


def test_a_second_head_on_a_day_is_refused_unless_the_file_ends_the_first(clinic):
    problems = refused(HEADER + "B-2,CARD,head,false,2023-01-01,\n")
    assert len(problems) == 1
    assert "Row 2, column role: CARD would have two heads on some days" in problems[0]
    assert "doctor A-1's as head, the stored period from 1 Jan 2020" in problems[0]
    # A handover in one file: the head's period ends, the new head's starts.
    result = run(
        HEADER
        + "A-1,CARD,head,true,2020-01-01,2024-12-31\n"
        + "B-2,CARD,head,false,2025-01-01,\n"
        + "B-2,CARD,member,false,2023-01-01,2024-12-31\n"
    )
    assert result.ok, result.problems
    assert periods()[1:] == [
        ("B-2", "CARD", "member", False, D(2019, 1, 1), D(2021, 6, 30)),
        ("B-2", "CARD", "member", False, D(2023, 1, 1), D(2024, 12, 31)),
        ("B-2", "CARD", "head", False, D(2025, 1, 1), None),
    ]


def test_a_second_primary_department_on_a_day_is_refused(clinic):
    problems = refused(HEADER + "A-1,NEUR,member,true,2024-01-01,\n")
    assert problems == [
        "Row 2, column primary: doctor A-1 would have two primary departments on "
        "some days: this period in NEUR (from 1 Jan 2024) overlaps the one in "
        "CARD, the stored period from 1 Jan 2020, which this file leaves as "
        "it is"
    ]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("X-9,CARD,member,false,2020-01-01,", "column license_number: no doctor"),
        ("A-1,ZZZ,member,false,2020-01-01,", "unknown department code 'ZZZ'"),
        (
            "A-1,NEUR,boss,false,2020-01-01,",
            "column role: 'boss' is not member or head",
        ),
        ("A-1,NEUR,member,,2020-01-01,", "column primary: required, but empty"),
        ("A-1,NEUR,member,maybe,2020-01-01,", "'maybe' is not true or false"),
        ("A-1,NEUR,member,false,,", "column joined_on: required, but empty"),
        ("A-1,NEUR,member,false,1/2/2020,", "is not a date written as YYYY-MM-DD"),
        ("A-1,NEUR,member,false,2020-02-30,", "is not a date written as YYYY-MM-DD"),
        ("A-1,NEUR,member,false,1850-01-01,", "outside the dates the clinic accepts"),
        (
            "A-1,NEUR,member,false,2020-01-01,2019-12-31",
            "column left_on: The last day cannot be before the first day.",
        ),
    ],
)
def test_a_bad_cell_refuses_the_file_naming_row_and_column(clinic, row, expected):
    problems = refused(HEADER + "A-1,CARD,head,true,2020-01-01,\n" + row + "\n")
    assert len(problems) == 1
    assert problems[0].startswith("Row 3, column ")
    assert expected in problems[0]


def test_a_period_named_twice_is_refused(clinic):
    problems = refused(
        HEADER
        + "A-1,CARD,head,true,2020-01-01,\n"
        + "A-1,card,member,true,2020-01-01,\n"
    )
    assert problems == [
        "Row 3, column joined_on: the period of A-1 in CARD from 2020-01-01 is also "
        "on row 2"
    ]


def test_a_workbook_names_the_cell_of_a_problem(clinic, tmp_path):
    rows = [
        HEADER.strip().split(","),
        ["A-1", "NEUR", "member", True, "2024-01-01", ""],
    ]
    stream = io.BytesIO()
    sheets.write_binary("xlsx", rows, stream, sheet="Memberships", widths={})
    result = import_memberships(io.BytesIO(stream.getvalue()), file_name="p.xlsx")
    assert [str(p) for p in result.problems] == [
        "Row 2, column primary (cell Memberships!D2): doctor A-1 would have two "
        "primary departments on some days: this period in NEUR (from 1 Jan "
        "2024) overlaps the one in CARD, the stored period from 1 Jan 2020, "
        "which this file leaves as it is"
    ]


@pytest.mark.parametrize("file_format", ["csv", "tsv", "json", "xlsx", "ods"])
def test_importing_an_export_changes_nothing(clinic, tmp_path, file_format):
    stored = periods()
    history = Membership.history.count()
    path = tmp_path / f"periods.{file_format}"
    call_command("export_memberships", output=str(path))
    result = import_memberships(io.BytesIO(path.read_bytes()), file_name=path.name)
    assert result.ok, result.problems
    assert (result.created, result.updated, result.unchanged) == (0, 0, 3)
    assert result.file_format == file_format
    assert periods() == stored
    assert Membership.history.count() == history


def test_the_export_writes_stored_values_iso_dates_and_an_empty_last_day(clinic):
    text = "".join(sheets.text_chunks("csv", exporting.membership_rows())).lstrip(
        "\ufeff"
    )
    assert text.splitlines() == [
        "license_number,department,role,primary,joined_on,left_on",
        "A-1,CARD,head,true,2020-01-01,",
        "B-2,CARD,member,false,2019-01-01,2021-06-30",
        "B-2,CARD,member,false,2023-01-01,",
    ]


def test_undo_restores_each_period_and_redo_writes_it_again(clinic):
    before = periods()
    run(
        HEADER
        + "B-2,CARD,member,false,2019-01-01,2021-12-31\n"
        + "B-2,CARD,member,false,2023-01-01,2024-06-30\n"
        + "B-2,CARD,member,false,2025-01-01,\n"
        + "B-2,NEUR,member,true,2022-01-01,\n"
    )
    after = periods()
    assert len(after) == 5
    record = ImportRun.objects.get()
    undone = undo.undo_import(record)
    assert not undone.refused, undone.summary()
    assert periods() == before
    redone = undo.undo_import(record)
    assert not redone.refused, redone.summary()
    assert periods() == after


def test_the_command_lists_the_problems_by_file_row_and_column(clinic, tmp_path):
    from django.core.management.base import CommandError

    path = tmp_path / "periods.csv"
    path.write_text(
        HEADER + "A-1,CARD,head,true,2020-01-01,\nA-1,NEUR,x,no,2021-01-01,\n"
    )
    errors = io.StringIO()
    with pytest.raises(CommandError, match="1 problem found; nothing was imported"):
        call_command("import_memberships", str(path), stderr=errors)
    assert errors.getvalue().splitlines() == [
        f"{path}: Row 3, column role: 'x' is not member or head"
    ]
    assert ImportRun.objects.get().status == ImportRun.Status.FAILED


def test_the_command_imports_and_the_undo_command_undoes(clinic, tmp_path):
    before = periods()
    path = tmp_path / "periods.tsv"
    path.write_text(
        "\t".join(HEADER.strip().split(","))
        + "\nB-2\tNEUR\thead\tfalse\t2024-02-01\t\n"
    )
    output = io.StringIO()
    call_command("import_memberships", str(path), stdout=output)
    assert "created 1, updated 0, 0 unchanged" in output.getvalue()
    assert ("B-2", "NEUR", "head", False, D(2024, 2, 1), None) in periods()
    call_command("undo_import", str(ImportRun.objects.get().pk), stdout=io.StringIO())
    assert periods() == before


def test_a_confirm_writes_nothing_when_a_period_changed_since_the_preview(clinic):
    text = HEADER + "B-2,CARD,member,false,2023-01-01,2024-12-31\n"
    preview = run(text, dry_run=True)
    assert preview.ok
    period = Membership.objects.get(doctor=clinic["b"], joined_on=D(2023, 1, 1))
    period.left_on = D(2023, 6, 30)
    period.save()
    changed = periods()
    result = run(text, expected_seen=bytes(preview.seen))
    assert not result.ok
    assert result.stale_rows == 1
    assert "B-2 in CARD from 2023-01-01 changed in the database since the preview" in (
        str(result.problems[0])
    )
    assert periods() == changed


def test_a_license_number_a_spreadsheet_stored_as_a_number_is_refused_by_cell(clinic):
    DoctorFactory(license_number="00123")
    rows = [HEADER.strip().split(","), [123, "NEUR", "member", False, "2024-01-01", ""]]
    stream = io.BytesIO()
    sheets.write_binary("xlsx", rows, stream, sheet="Memberships", widths={})
    result = import_memberships(io.BytesIO(stream.getvalue()), file_name="p.xlsx")
    assert not result.ok
    assert "the spreadsheet dropped the zeros in front" in str(result.problems[0])
    assert "type 00123" in str(result.problems[0])
