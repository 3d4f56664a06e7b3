"""Reading .xlsx, .ods, .tsv and .json imports (doctors/importing/readers/).

The workbooks under tests/fixtures/sheets/ were written by LibreOffice Calc
(see the README there): the way a spreadsheet program really stores numbers,
booleans, dates, formulas and merged cells.
"""

import datetime
import io
import json
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from doctors.importing.parsing import ImportFileError
from doctors.importing.readers.cells import number_text
from doctors.importing.readers.detect import detect_format
from doctors.importing.readers.estimate import estimate_rows
from doctors.importing.runner import import_departments, import_doctors
from doctors.models import Department, Doctor, ImportRun
from doctors.sheets import write_ods
from tests.factories import DepartmentFactory, DoctorFactory
from tests.test_importing import HEADER, csv_bytes, snapshot

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "sheets"
COLUMNS = HEADER.split(",")


@pytest.fixture
def departments():
    return DepartmentFactory(code="CARD"), DepartmentFactory(code="NEUR")


def xlsx(*rows, sheet="Doctors", header=COLUMNS, extra_sheets=(), build=None):
    """A workbook made with openpyxl: `rows` are lists of cell values."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name in extra_sheets:
        workbook.create_sheet(name).append(["something else"])
    worksheet = workbook.create_sheet(sheet)
    if header:
        worksheet.append(list(header))
    for row in rows:
        worksheet.append(list(row))
    if build:
        build(worksheet)
    stream = io.BytesIO()
    workbook.save(stream)
    return stream.getvalue()


def run(data: bytes, name="doctors.xlsx", **options):
    return import_doctors(io.BytesIO(data), file_name=name, **options)


def problems(result) -> list[str]:
    return [str(problem) for problem in result.problems]


ANN = ["LIC-1", "Ann", "Lee", "ann@clinic.test", "", "Cardiology", "CARD", True]


class TestWorkbooksFromLibreOffice:
    """The same sheet saved by LibreOffice as .xlsx and as .ods."""

    @pytest.mark.parametrize("name", ["doctors.xlsx", "doctors.ods"])
    def test_doctors_sheet_with_numbers_formulas_and_booleans(self, departments, name):
        result = run((FIXTURES / name).read_bytes(), name=name)
        assert problems(result) == []
        assert (result.created, result.total_rows) == (4, 4)
        assert result.file_format == name.rsplit(".", 1)[1]
        doctors = {
            doctor.license_number: doctor for doctor in Doctor.objects.order_by("pk")
        }
        # 123 typed as a number; 42 shown as 00042 by its number format.
        assert sorted(doctors) == ["00042", "123", "LIC-2", "LIC-4"]
        ann = doctors["123"]
        assert ann.first_name == "Ann"  # a formula: its calculated value
        assert ann.phone == "5551234"  # a number cell, as it is shown
        assert ann.is_active is True  # a TRUE cell
        assert doctors["LIC-2"].phone == "120000"  # typed as 1.2E+5
        assert doctors["LIC-2"].is_active is False
        eve = doctors["LIC-4"]
        assert eve.first_name == "=not a formula"  # text stays text
        assert eve.phone == "+1 555 0100"
        assert eve.memberships.get().role == "head"

    @pytest.mark.parametrize("name", ["doctors.xlsx", "doctors.ods"])
    def test_departments_come_from_the_sheet_named_departments(self, name):
        DepartmentFactory(code="CARD", name="Old name")
        result = import_departments(
            io.BytesIO((FIXTURES / name).read_bytes()), file_name=name
        )
        assert problems(result) == []
        assert (result.created, result.updated) == (1, 1)
        card = Department.objects.get(code="CARD")
        assert card.description == "2026-01-31"  # a date cell
        assert Department.objects.get(code="NEUR").is_active is False

    @pytest.mark.parametrize("name", ["merged.xlsx", "merged.ods"])
    def test_merged_cells_are_refused(self, departments, name):
        before = snapshot()
        result = run((FIXTURES / name).read_bytes(), name=name)
        assert len(result.problems) == 1
        text = problems(result)[0]
        assert "Doctors" in text and "A2" in text and "merged" in text
        assert snapshot() == before


class TestExcelRealities:
    def test_numbers_come_in_as_the_text_a_person_sees(self, departments):
        result = run(
            xlsx(
                [123, "Ann", "Lee", "a@clinic.test", 5551234.0, "oncology", "", 1],
                ["L-2", "Bo", "Ray", "b@clinic.test", 1.2e5, "oncology", "", False],
                ["L-3", "Cy", "Day", "c@clinic.test", 12.5, "oncology", "", None],
            )
        )
        assert problems(result) == []
        phones = dict(Doctor.objects.values_list("license_number", "phone"))
        assert phones == {"123": "5551234", "L-2": "120000", "L-3": "12.5"}
        assert Doctor.objects.get(license_number="L-2").is_active is False

    def test_a_license_that_lost_its_leading_zeros_is_flagged(self, departments):
        DoctorFactory(license_number="00123", email="old@clinic.test")
        before = snapshot()
        result = run(xlsx([123, "Ann", "Lee", "a@clinic.test", "", "oncology", "", 1]))
        assert snapshot() == before
        [text] = problems(result)
        assert "A2" in text and "00123" in text and "zeros" in text
        assert "Format the column as Text" in text

    def test_a_zero_padded_number_format_gives_the_digits_shown(self, departments):
        DoctorFactory(license_number="00123", email="old@clinic.test")

        def pad(worksheet):
            worksheet["A2"].number_format = "00000"

        result = run(
            xlsx(
                [123, "Ann", "Lee", "old@clinic.test", "", "oncology", "", 1],
                build=pad,
            )
        )
        assert problems(result) == []
        assert result.updated == 1
        assert Doctor.objects.get().first_name == "Ann"

    def test_date_and_boolean_cells(self):
        # Spreadsheet cells hold local dates and times, without a time zone.
        naive = datetime.datetime(2026, 3, 1, 8, 30)  # noqa: DTZ001
        result = import_departments(
            io.BytesIO(
                xlsx(
                    ["ICU", "Intensive care", datetime.date(2026, 3, 1), False],
                    ["ER", "Emergency", naive, True],
                    header=["code", "name", "description", "is_active"],
                    sheet="Departments",
                )
            ),
            file_name="departments.xlsx",
        )
        assert problems(result) == []
        icu = Department.objects.get(code="ICU")
        assert (icu.description, icu.is_active) == ("2026-03-01", False)
        assert Department.objects.get(code="ER").description == "2026-03-01 08:30:00"

    def test_blank_rows_and_columns_after_the_table_are_ignored(self, departments):
        def decorate(worksheet):
            worksheet["K40"].number_format = "0.00"  # formatted but empty
            worksheet["K40"].value = None
            worksheet["A30"].value = "   "

        result = run(xlsx(ANN, [], ["LIC-2", *ANN[1:3], "b@c.test", *ANN[4:]]))
        assert problems(result) == []
        result = run(xlsx(ANN, build=decorate), dry_run=True)
        assert problems(result) == [] and result.total_rows == 1

    def test_a_value_outside_the_header_is_refused_with_its_cell(self, departments):
        result = run(xlsx([*ANN, None, "stray"]))
        [text] = problems(result)
        assert text.startswith("Row 2, column sheet Doctors: cell J2 has a value")

    def test_problems_name_the_sheet_and_cell(self, departments):
        bad = ["LIC-1", "Ann", "Lee", "not-an-email", "", "Cardiology", "XX", "maybe"]
        result = run(xlsx(ANN, bad, extra_sheets=["Notes"]), dry_run=True)
        texts = problems(result)
        assert any("email (cell Doctors!D3)" in text for text in texts)
        assert any("departments (cell Doctors!G3)" in text for text in texts)
        assert any("is_active (cell Doctors!H3)" in text for text in texts)
        run_record = ImportRun.objects.get()
        assert run_record.file_format == "xlsx"
        assert ["Doctors!D3" in column for _, column, _ in run_record.errors]

    def test_the_first_sheet_when_none_is_named_after_the_model(self, departments):
        result = run(xlsx(ANN, sheet="Sheet1"))
        assert problems(result) == [] and result.created == 1

    def test_a_sheet_without_the_header_is_refused(self, departments):
        result = run(xlsx(ANN, header=None))
        [text] = problems(result)
        assert "Sheet Doctors" in text
        assert "does not look like the expected Excel workbook (.xlsx)" in text

    def test_an_error_value_is_refused_with_its_cell(self, departments):
        result = run(xlsx(["LIC-1", "#N/A", *ANN[2:]]))
        [text] = problems(result)
        assert "cell B2 shows the error #N/A" in text

    def test_an_empty_workbook_sheet(self, departments):
        result = run(xlsx(header=None))
        assert problems(result) == ["File: Sheet Doctors is empty."]


class TestOpenDocument:
    def _content(self, rows_xml: str) -> bytes:
        stream = io.BytesIO()
        write_ods(iter([COLUMNS]), stream, sheet="Doctors", widths={})
        with zipfile.ZipFile(stream) as archive:
            parts = {name: archive.read(name) for name in archive.namelist()}
        parts["content.xml"] = parts["content.xml"].replace(
            b"</table:table>", rows_xml.encode() + b"</table:table>"
        )
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, data in parts.items():
                archive.writestr(name, data)
        return out.getvalue()

    def test_a_million_repeated_blank_rows_cost_nothing(self, departments):
        cells = "".join(
            f'<table:table-cell office:value-type="string"><text:p>{v}</text:p>'
            "</table:table-cell>"
            for v in ["LIC-1", "Ann", "Lee", "a@clinic.test", "", "oncology", "", ""]
        )
        data = self._content(
            f"<table:table-row>{cells}</table:table-row>"
            '<table:table-row table:number-rows-repeated="1048570">'
            '<table:table-cell table:number-columns-repeated="1024"/>'
            "</table:table-row>"
        )
        result = run(data, name="doctors.ods")
        assert problems(result) == [] and result.total_rows == 1

    def test_a_license_that_lost_its_zeros_is_flagged_here_too(self, departments):
        DoctorFactory(license_number="00123", email="old@clinic.test")
        cells = '<table:table-cell office:value-type="float" office:value="123">'
        cells += "<text:p>123</text:p></table:table-cell>"
        cells += "".join(
            f'<table:table-cell office:value-type="string"><text:p>{v}</text:p>'
            "</table:table-cell>"
            for v in ["Ann", "Lee", "a@clinic.test", "", "oncology", "", ""]
        )
        padded = cells.replace("<text:p>123<", "<text:p>00123<").replace(
            "a@clinic", "old@clinic"
        )
        result = run(
            self._content(f"<table:table-row>{cells}</table:table-row>"),
            name="doctors.ods",
        )
        [text] = problems(result)
        assert "cell A2 (license_number) holds the number 123" in text
        result = run(
            self._content(f"<table:table-row>{padded}</table:table-row>"),
            name="doctors.ods",
        )
        assert problems(result) == [] and result.updated == 1

    def test_a_filled_row_repeated_too_often_is_refused(self, departments):
        cell = '<table:table-cell office:value-type="string"><text:p>x</text:p>'
        data = self._content(
            f'<table:table-row table:number-rows-repeated="50000">{cell}'
            "</table:table-cell></table:table-row>"
        )
        result = run(data, name="doctors.ods")
        assert any("repeated 50000 times" in text for text in problems(result))


class TestTextFormats:
    def test_tsv_by_name_and_by_content(self, departments):
        data = csv_bytes(
            "\t".join(
                ["LIC-1", "Ann", "Lee", "a@c.test", "", "oncology", "CARD", "yes"]
            ),
            header=HEADER.replace(",", "\t"),
        )
        for name in ["doctors.tsv", "doctors.txt"]:
            result = run(data, name=name, dry_run=True)
            assert problems(result) == [] and result.created == 1
        assert result.file_format == "tsv"

    def test_json_list_of_objects(self, departments):
        records = [
            dict(zip(COLUMNS, ANN, strict=True)),
            {
                **dict(zip(COLUMNS, ANN, strict=True)),
                "license_number": 77,
                "email": "b@c.test",
                "phone": None,
            },
        ]
        result = run(json.dumps(records).encode(), name="doctors.json")
        assert problems(result) == []
        assert sorted(Doctor.objects.values_list("license_number", flat=True)) == [
            "77",
            "LIC-1",
        ]

    @pytest.mark.parametrize(
        "text, fragment",
        [
            ('{"a": 1}', "must start with ["),
            ("[1, 2]", "not a list of objects"),
            ('[{"license_number": "L"', "object 1 is not valid JSON"),
            ("[" + json.dumps(dict(zip(COLUMNS, ANN, strict=True))) + " x", "A , or ]"),
            ("", "The file is empty"),
        ],
    )
    def test_bad_json(self, departments, text, fragment):
        result = run(text.encode(), name="doctors.json")
        assert result.problems
        assert fragment.lower() in " ".join(problems(result)).lower()

    def test_json_row_problems_name_the_object(self, departments):
        records = [
            dict(zip(COLUMNS, ANN, strict=True)),
            {**dict(zip(COLUMNS, ANN, strict=True)), "email": "nope", "extra": 1},
            {**dict(zip(COLUMNS, ANN, strict=True)), "email": "nope"},
        ]
        result = run(json.dumps(records).encode(), name="doctors.json", dry_run=True)
        texts = problems(result)
        assert "Row 2, column object 2: unknown key 'extra'" in texts
        assert any(t.startswith("Row 3, column email (object 3)") for t in texts)

    def test_json_read_in_small_blocks(self, departments, monkeypatch):
        from doctors.importing.readers import json_rows

        monkeypatch.setattr(json_rows, "BLOCK", 7)
        records = [
            {
                **dict(zip(COLUMNS, ANN, strict=True)),
                "license_number": f"L-{n}",
                "email": f"{n}@c.test",
            }
            for n in range(30)
        ]
        result = run(json.dumps(records, indent=2).encode(), name="d.json")
        assert problems(result) == [] and result.created == 30


class TestDetection:
    @pytest.mark.parametrize(
        "data, name, chosen, expected",
        [
            (b"a,b\n", "x.csv", "", "csv"),
            (b"a\tb\n", "upload", "", "tsv"),
            (b'\xef\xbb\xbf [{"a": 1}]', "upload", "", "json"),
            (b"a;b\n", "x.json", "", "json"),
            (b"a,b\n", "x.json", "csv", "csv"),
        ],
    )
    def test_formats(self, data, name, chosen, expected):
        assert detect_format(io.BytesIO(data), name, chosen) == expected

    def test_workbooks_by_content_whatever_the_name(self):
        assert detect_format(io.BytesIO(xlsx(ANN)), "doctors.csv") == "xlsx"
        ods = (FIXTURES / "doctors.ods").read_bytes()
        assert detect_format(io.BytesIO(ods), "doctors.xlsx") == "ods"

    @pytest.mark.parametrize(
        "data, name, chosen, fragment",
        [
            (b"PK\x03\x04junk", "x.xlsx", "", "damaged or incomplete"),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "x.xls", "", "old Excel workbook"),
            (b"a,b\n", "x.xlsx", "", "not an Excel workbook"),
            (b"a,b\n", "x.csv", "ods", "not an OpenDocument spreadsheet"),
        ],
    )
    def test_refusals(self, data, name, chosen, fragment):
        with pytest.raises(ImportFileError, match=fragment):
            detect_format(io.BytesIO(data), name, chosen)

    def test_a_choice_the_content_contradicts(self):
        with pytest.raises(ImportFileError, match="You chose JSON"):
            detect_format(io.BytesIO(xlsx(ANN)), "x.xlsx", "json")

    def test_a_zip_that_is_no_workbook(self):
        stream = io.BytesIO()
        with zipfile.ZipFile(stream, "w") as archive:
            archive.writestr("readme.txt", "hello")
        with pytest.raises(ImportFileError, match="neither an Excel workbook"):
            detect_format(stream, "x.zip")

    def test_row_estimates(self):
        assert estimate_rows(xlsx(ANN, ANN, ANN), "d.xlsx") == 4
        assert estimate_rows((FIXTURES / "doctors.ods").read_bytes(), "d.ods") >= 5
        assert estimate_rows(b'[{"a": 1}, {"a": 2}]', "d.json") == 2
        assert estimate_rows(b"a\nb\nc\n", "d.csv") == 3


@pytest.mark.parametrize(
    "value, shown, text",
    [
        (123, "", "123"),
        (5551234.0, "", "5551234"),
        (1.2e5, "", "120000"),
        (0.1, "", "0.1"),
        (1.5e-7, "", "0.00000015"),
        (42, "00042", "00042"),
        (42, "42.0", "42"),
    ],
)
def test_number_text(value, shown, text):
    assert number_text(value, shown) == text


def _workbook_with_sheet_xml(
    sheet_data: str, *, shared: str = "", date1904=False, styles: str = ""
) -> bytes:
    """An .xlsx file whose Doctors sheet holds `sheet_data` (the XML inside
    <sheetData>), with optional shared strings and styles, as other programs
    than openpyxl write them."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    parts = {
        "[Content_Types].xml": "<Types/>",
        "_rels/.rels": f'<Relationships xmlns="{package}"><Relationship Id="r1" '
        f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{main}" xmlns:r="{rel}">'
        f'<workbookPr date1904="{"1" if date1904 else "0"}"/><sheets>'
        '<sheet name="Doctors" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{package}">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{rel}/sharedStrings" '
        'Target="/xl/sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{rel}/styles" Target="styles.xml"/>'
        "</Relationships>",
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{main}"><sheetData>'
        f"{sheet_data}</sheetData></worksheet>",
        "xl/sharedStrings.xml": f'<sst xmlns="{main}">{shared}</sst>',
        "xl/styles.xml": f'<styleSheet xmlns="{main}">{styles}</styleSheet>',
    }
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return stream.getvalue()


class TestXlsxParts:
    HEADER_ROW = (
        '<row r="1">'
        + "".join(
            f'<c r="{chr(65 + n)}1" t="inlineStr"><is><t>{name}</t></is></c>'
            for n, name in enumerate(COLUMNS)
        )
        + "</row>"
    )

    def test_rich_text_phonetic_hints_dates_1904_and_gaps(self, departments):
        shared = (
            "<si><r><t>An</t></r><r><t>n</t></r><rPh><t>アン</t></rPh></si>"
            "<si><t>Lee</t></si>"
        )
        styles = (
            '<numFmts><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
            '<cellXfs><xf numFmtId="0"/><xf numFmtId="164"/></cellXfs>'
        )
        row = (
            '<row r="3"><c r="A3" t="str"><f>A1</f><v>LIC-1</v></c>'
            '<c r="B3" t="s"><v>0</v></c><c r="C3" t="s"><v>1</v></c>'
            '<c r="D3" t="inlineStr"><is><t>a@c.test</t></is></c>'
            '<c r="E3" s="1"><v>1</v></c>'  # day 1 of the 1904 calendar
            '<c r="F3" t="inlineStr"><is><t>oncology</t></is></c>'
            '<c r="H3" t="b"><v>0</v></c></row>'  # G3 is missing: empty
        )
        data = _workbook_with_sheet_xml(
            self.HEADER_ROW + row, shared=shared, date1904=True, styles=styles
        )
        result = run(data)
        assert problems(result) == []
        doctor = Doctor.objects.get()
        assert (doctor.first_name, doctor.last_name) == ("Ann", "Lee")
        assert doctor.phone == "1904-01-02"
        assert doctor.is_active is False
        assert doctor.memberships.count() == 0

    def test_iso_date_cells_and_problems_on_a_later_row(self, departments):
        row = (
            '<row r="7"><c r="A7" t="inlineStr"><is><t>LIC-1</t></is></c>'
            '<c r="B7" t="inlineStr"><is><t>Ann</t></is></c>'
            '<c r="C7" t="d"><v>2026-02-03T00:00:00</v></c>'
            '<c r="D7" t="inlineStr"><is><t>not-an-email</t></is></c>'
            '<c r="F7" t="inlineStr"><is><t>oncology</t></is></c></row>'
        )
        result = run(_workbook_with_sheet_xml(self.HEADER_ROW + row), dry_run=True)
        assert problems(result) == [
            "Row 7, column email (cell Doctors!D7): Enter a valid email address."
        ]

    def test_a_broken_workbook_is_refused_clearly(self, departments):
        data = _workbook_with_sheet_xml("<row><c r='A1'")
        result = run(data)
        [text] = problems(result)
        assert text.startswith(
            "File: Part xl/worksheets/sheet1.xml is damaged: not well-formed"
        )
        no_sheet = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            with zipfile.ZipFile(no_sheet, "w") as archive:
                for item in source.infolist():
                    if item.filename != "xl/worksheets/sheet1.xml":
                        archive.writestr(item, source.read(item))
        result = run(no_sheet.getvalue())
        [text] = problems(result)
        assert "The part of sheet Doctors is missing" in text
        assert "the workbook is damaged" in text


class TestXmlSafety:
    BOMB = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    )

    def test_a_sheet_with_a_document_type_declaration_is_refused(self, departments):
        main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        data = _workbook_with_sheet_xml(TestXlsxParts.HEADER_ROW)
        patched = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            with zipfile.ZipFile(patched, "w") as archive:
                for item in source.infolist():
                    body = source.read(item)
                    if item.filename == "xl/worksheets/sheet1.xml":
                        body = (
                            self.BOMB
                            + f'<worksheet xmlns="{main}"><sheetData><row r="2">'
                            '<c r="A2" t="inlineStr"><is><t>&lol2;</t></is></c>'
                            "</row></sheetData></worksheet>"
                        ).encode()
                    archive.writestr(item, body)
        result = run(patched.getvalue())
        [text] = problems(result)
        assert "document type declaration is not allowed" in text
        assert not Doctor.objects.exists()

    def test_comments_and_declarations_before_the_root_are_fine(self):
        from doctors.importing.readers import xml_stream
        from doctors.importing.readers.limits import ReaderLimits

        class Names(xml_stream.PartHandler):
            def open(self, name, attributes):
                names.append(name)

        names = []
        xml = b'<?xml version="1.0"?>\n<!-- a comment -->' + b" " * 70000 + b"<a/>"
        list(xml_stream.parse([xml], Names("part.xml", ReaderLimits())))
        assert names == ["a"]
        with pytest.raises(ImportFileError, match="document type"):
            bomb = self.BOMB.encode() + b"<a/>"
            list(xml_stream.parse([bomb], Names("part.xml", ReaderLimits())))
