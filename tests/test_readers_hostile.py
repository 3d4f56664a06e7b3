"""Hostile spreadsheets and JSON files are refused within the readers' limits
(doctors/importing/readers/): each shape through the reader at a small size
with the limits lowered, and through the reading process, the admin and the
command. Built by tests/hostile_files.py, as bench/import_hostile.py builds
them at full size."""

import io

import pytest
from django.urls import reverse
from django.utils.html import escape

from doctors.importing.errors import ImportFileError
from doctors.importing.readers.limits import ReaderLimits
from doctors.importing.readers.table import TableRequest, read_table
from doctors.importing.runner import import_doctors
from doctors.models import Doctor, ImportRun
from tests.hostile_files import COLUMNS, build, ods
from tests.test_admin_csv import upload

# shape: (scale, limits lowered for the small file, what the refusal says)
CASES = {
    "xlsx_styles_bomb": (
        0.0002,
        {"styles": 1000},
        "xl/styles.xml has more than 1,000 cell styles",
    ),
    "xlsx_shared_strings_flood": (
        0.0002,
        {"shared_strings": 1000},
        "xl/sharedStrings.xml has more than 1,000 shared strings",
    ),
    "xlsx_wide_row_without_r": (
        0.0002,
        {"columns": 100},
        "cell CW2 is past the last column a row may have (100)",
    ),
    "xlsx_2m_valued_cells": (0.01, {"columns": 1000}, "past the last column"),
    "xlsx_deep_nesting": (0.01, {}, "xl/sharedStrings.xml nests elements more than 64"),
    "xlsx_doctype_after_utf8_bom": (1, {}, "document type declaration is not allowed"),
    "xlsx_doctype_utf16": (1, {}, "document type declaration is not allowed"),
    "xlsx_shared_index_past_end": (1, {}, "cell A2 refers to shared string '5'"),
    "xlsx_shared_index_minus_1": (1, {}, "cell A2 refers to shared string '-1'"),
    "xlsx_5000_digit_number": (1, {}, "cell A2 holds a number too long"),
    "xlsx_5000_digit_row_number": (1, {}, "which is no row number"),
    "ods_text_s_c_400000000": (1, {}, "cell A2 has more than 32,767 characters"),
    "ods_1e200000000": (1, {}, "cell A2 holds a number too long or too large"),
    "ods_20000x1000_repeated_rows": (
        0.001,
        {"rows": 5000},
        "more than 5,000 rows with values",
    ),
    "ods_999999999_repeated_columns": (1, {}, "row 2 has more than 16,384 columns"),
    "ods_deep_nesting": (0.01, {}, "content.xml nests elements more than 64 deep"),
    "ods_doctype_after_utf8_bom": (1, {}, "document type declaration is not allowed"),
    "ods_doctype_utf16": (1, {}, "document type declaration is not allowed"),
    "json_deep_nesting": (1, {}, "Object 2 nests lists or objects too deeply"),
    "json_5000_digit_number": (1, {}, "Object 2 cannot be read: a number has more"),
    "json_nan": (1, {}, "Object 2 cannot be read: NaN is not a number JSON allows"),
    "json_minus_infinity": (1, {}, "-Infinity is not a number JSON allows"),
    "json_1e999": (1, {}, "the number 1e999 is too large"),
    "json_duplicate_keys": (1, {}, "the key 'first_name' is given twice"),
    "zip_50000_members": (0.01, {"zip_members": 100}, "has more than 100 parts"),
}


def read(name: str, data: bytes, limits: ReaderLimits) -> list:
    request = TableRequest(columns=COLUMNS, file_name=name, sheet_name="Doctors")
    return list(read_table(io.BytesIO(data), request, limits).rows())


@pytest.mark.parametrize("shape", sorted(CASES))
def test_each_shape_is_refused_by_the_reader_naming_the_part_or_cell(shape):
    scale, lowered, fragment = CASES[shape]
    name, data = build(shape, scale)
    with pytest.raises(ImportFileError) as refusal:
        read(name, data, ReaderLimits(**lowered))
    assert fragment in refusal.value.message


def test_valued_cells_past_the_header_are_a_problem_of_each_row():
    """Rows just narrower than the limit are read, each refused with its cell."""
    name, data = build("xlsx_2m_valued_cells", 0.01)
    rows = read(name, data, ReaderLimits())
    assert [row.number for row in rows] == [2, 3]
    assert all(row.error.startswith("cell I") for row in rows)


def test_an_entity_never_expands_into_a_value():
    name, data = build("xlsx_doctype_after_utf8_bom")
    result = import_doctors(io.BytesIO(data), file_name=name)
    assert not result.ok and not Doctor.objects.exists()
    assert "aaaa" not in str(result.problems)


pytestmark = pytest.mark.django_db


class TestReadingProcess:
    """The file is read in a child process: its limits are settings."""

    def test_a_refusal_in_the_child_comes_back_with_its_row(self, settings):
        settings.IMPORT_READER_SANDBOX = True
        name, data = build("xlsx_shared_index_past_end")
        result = import_doctors(io.BytesIO(data), file_name=name)
        [problem] = result.problems
        assert problem.row == 2
        assert "cell A2 refers to shared string '5'" in problem.message

    def test_limits_lowered_in_the_settings_reach_the_child(self, settings):
        settings.IMPORT_READER_LIMITS = {"rows": 5000}
        name, data = build("ods_20000x1000_repeated_rows", 0.001)
        result = import_doctors(io.BytesIO(data), file_name=name)
        assert "more than 5,000 rows with values" in str(result.problems)

    def test_a_file_that_needs_more_memory_is_refused(self, settings):
        settings.IMPORT_READER_MEMORY_MB = 200
        settings.IMPORT_READER_LIMITS = {"cell_chars": 10**9}
        name, data = build("ods_text_s_c_400000000")
        result = import_doctors(io.BytesIO(data), file_name=name)
        [problem] = result.problems
        assert problem.message.startswith(
            "This file needs more memory than is allowed to read it (200 MB)"
        )
        assert ImportRun.objects.get().status == ImportRun.Status.FAILED

    def test_a_file_that_needs_more_time_is_refused(self, settings):
        settings.IMPORT_READER_CPU_SECONDS = 1
        # Ten million rows with the row limit lifted: far more than a second.
        settings.IMPORT_READER_LIMITS = {"rows": 10**9, "output_bytes": 10**12}
        name, data = build("ods_20000x1000_repeated_rows", 0.5)
        result = import_doctors(io.BytesIO(data), file_name=name)
        [problem] = result.problems
        assert problem.message.startswith(
            "This file needs more time than is allowed to read it (1 s)"
        )

    def test_a_reader_that_fails_unexpectedly_is_a_refusal(self, settings, monkeypatch):
        from doctors.importing.readers import table

        settings.IMPORT_READER_SANDBOX = False

        def broken(*args, **kwargs):
            raise IndexError("a reader's bug")

        monkeypatch.setattr(table, "_json_row", broken)
        name, data = build("json_nan")
        data = data.replace(b"NaN", b'"L-2"')
        result = import_doctors(io.BytesIO(data), file_name=name)
        [problem] = result.problems
        assert problem.message.startswith("This file cannot be read: reading it failed")

    def test_the_same_refusals_without_the_child(self, settings):
        settings.IMPORT_READER_SANDBOX = False
        name, data = build("ods_1e200000000")
        result = import_doctors(io.BytesIO(data), file_name=name)
        assert "cell A2 holds a number too long" in str(result.problems)


@pytest.mark.parametrize(
    "shape",
    ["xlsx_shared_index_minus_1", "ods_text_s_c_400000000", "json_deep_nesting"],
)
def test_the_admin_answers_a_normal_page_and_the_run_failed(staff_client, shape):
    name, data = build(shape)
    response = upload(staff_client, data, name=name)
    assert response.status_code == 200
    run = ImportRun.objects.get()
    # A preview that found a problem: finished, and it cannot be confirmed.
    assert run.status == ImportRun.Status.PREVIEWED
    assert run.error_count == 1
    assert response.redirect_chain[-1][0] == reverse(
        "admin:doctors_doctor_import_run", args=[run.pk]
    )
    assert escape(run.errors[0][2]) in response.content.decode()


def test_the_command_prints_one_line_and_exits_non_zero(tmp_path, capsys):
    from doctors.management.commands.import_doctors import Command

    name, data = build("ods_1e200000000")
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(SystemExit) as exit:
        Command().run_from_argv(["manage.py", "import_doctors", str(path)])
    assert exit.value.code != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0] == (
        f"{path}: Row 2: Sheet Doctors: cell A2 holds a number too long or too "
        "large to read."
    )
    assert lines[1:] == [
        f"CommandError: Import of {name}: 1 problem found; nothing was imported."
    ]


DOCTYPE = '<!DOCTYPE a [<!ENTITY b "x">]><a>&b;</a>'


@pytest.mark.parametrize(
    "document, fragment",
    [
        (b"\xef\xbb\xbf" + DOCTYPE.encode(), "document type declaration"),
        (
            ('<?xml version="1.0" encoding="ISO-8859-1"?>' + DOCTYPE).encode("latin-1"),
            "document type declaration",
        ),
        (
            ('<?xml version="1.0" encoding="UTF-16"?>' + DOCTYPE).encode("utf-16"),
            "document type declaration",
        ),
        (
            ('<?xml version="1.0" encoding="UTF-16LE"?>' + DOCTYPE).encode("utf-16-le"),
            "document type declaration",
        ),
        (
            ('<?xml version="1.0" encoding="windows-1252"?>' + DOCTYPE).encode(),
            "document type declaration",
        ),
        (
            b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE a+AD4-<a/>',
            "text encoding that cannot be read",
        ),
        (DOCTYPE.encode("utf-32"), "is damaged"),
        (b"<a>&ext;</a>", "undefined entity"),
    ],
)
def test_a_doctype_is_refused_whatever_the_encoding(document, fragment):
    from doctors.importing.readers import xml_stream

    handler = xml_stream.PartHandler("part.xml", ReaderLimits())
    with pytest.raises(ImportFileError) as refusal:
        list(xml_stream.parse([document[:7], document[7:]], handler))
    assert fragment in refusal.value.message


def test_a_comment_inside_a_cells_paragraph_is_not_its_text():
    cell = (
        '<table:table-cell office:value-type="string"><text:p>L-<office:annotation>'
        "<text:p>a note</text:p></office:annotation>7</text:p></table:table-cell>"
    )
    rows = read(
        "f.ods", ods(f"<table:table-row>{cell}</table:table-row>"), ReaderLimits()
    )
    assert rows[0].cells["license_number"] == "L-7"


def test_number_formats_come_from_numfmts_not_from_differential_formats():
    from tests.hostile_files import MAIN, workbook

    styles = (
        f'<styleSheet xmlns="{MAIN}"><numFmts count="1">'
        '<numFmt numFmtId="164" formatCode="00000"/></numFmts>'
        '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="164"/></cellXfs>'
        '<dxfs count="1"><dxf><numFmt numFmtId="164" formatCode="0.00"/></dxf></dxfs>'
        "</styleSheet>"
    ).encode()
    data = workbook('<row r="2"><c r="A2" s="1"><v>42</v></c></row>', styles=styles)
    [row] = read("f.xlsx", data, ReaderLimits())
    assert row.cells["license_number"] == "00042"
