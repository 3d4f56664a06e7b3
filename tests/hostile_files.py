"""Hostile import files, in every shape an attacker was seen to try (and a few
more), for the readers' tests and bench/import_hostile.py.

`build(shape, scale)` returns (file name, bytes). `scale` 1.0 is the full size
the shape was reported at; the tests use a small scale with the readers'
limits lowered (settings.IMPORT_READER_LIMITS), the benchmark the full one.
Each big part is written to the zip archive as a stream, so building a 300 MB
part does not hold it in memory.
"""

import codecs
import io
import zipfile
from collections.abc import Callable, Iterator

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
COLUMNS = (
    "license_number",
    "first_name",
    "last_name",
    "email",
    "phone",
    "specialty",
    "departments",
    "is_active",
)
HEADER_ROW = (
    '<row r="1">'
    + "".join(
        f'<c r="{chr(65 + n)}1" t="inlineStr"><is><t>{name}</t></is></c>'
        for n, name in enumerate(COLUMNS)
    )
    + "</row>"
)
ENTITY_BOMB = (
    '<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
)
Parts = dict[str, "bytes | Callable[[], Iterator[bytes]]"]


def _zip(parts: Parts) -> bytes:
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            if isinstance(body, bytes):
                archive.writestr(name, body)
                continue
            with archive.open(name, "w", force_zip64=True) as member:
                for block in body():
                    member.write(block)
    return stream.getvalue()


def _repeated(head: str, unit: str, count: int, tail: str) -> Callable:
    def blocks() -> Iterator[bytes]:
        yield head.encode()
        per_block = max(1, (1 << 20) // len(unit))
        left = count
        while left > 0:
            now = min(left, per_block)
            yield (unit * now).encode()
            left -= now
        yield tail.encode()

    return blocks


def workbook(
    sheet_rows: "str | Callable" = "",
    *,
    shared: "bytes | Callable | None" = None,
    styles: "bytes | Callable | None" = None,
) -> bytes:
    """An .xlsx file whose Doctors sheet has the header row, then `sheet_rows`
    (XML inside <sheetData>, or a function yielding the whole sheet part)."""
    relations = (
        f'<Relationship Id="rId1" Type="{REL}/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
    )
    parts: Parts = {
        "[Content_Types].xml": b"<Types/>",
        "_rels/.rels": (
            f'<Relationships xmlns="{PACKAGE}"><Relationship Id="r1" '
            f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ).encode(),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
            '<sheet name="Doctors" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ).encode(),
    }
    if shared is not None:
        relations += (
            f'<Relationship Id="rId2" Type="{REL}/sharedStrings" '
            'Target="sharedStrings.xml"/>'
        )
        parts["xl/sharedStrings.xml"] = shared
    if styles is not None:
        relations += (
            f'<Relationship Id="rId3" Type="{REL}/styles" Target="styles.xml"/>'
        )
        parts["xl/styles.xml"] = styles
    parts["xl/_rels/workbook.xml.rels"] = (
        f'<Relationships xmlns="{PACKAGE}">{relations}</Relationships>'
    ).encode()
    if callable(sheet_rows):
        parts["xl/worksheets/sheet1.xml"] = sheet_rows
    else:
        parts["xl/worksheets/sheet1.xml"] = (
            f'<worksheet xmlns="{MAIN}"><sheetData>{HEADER_ROW}{sheet_rows}'
            "</sheetData></worksheet>"
        ).encode()
    return _zip(parts)


def _sheet_stream(unit: str, count: int, head: str = "", tail: str = "") -> Callable:
    return _repeated(
        f'<worksheet xmlns="{MAIN}"><sheetData>{HEADER_ROW}{head}',
        unit,
        count,
        f"{tail}</sheetData></worksheet>",
    )


ODS_NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)
ODS_HEADER = (
    "<table:table-row>"
    + "".join(
        f'<table:table-cell office:value-type="string"><text:p>{name}</text:p>'
        "</table:table-cell>"
        for name in COLUMNS
    )
    + "</table:table-row>"
)


def ods_head(prolog: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f"<office:document-content {ODS_NAMESPACES}><office:body>"
        '<office:spreadsheet><table:table table:name="Doctors">' + ODS_HEADER
    )


ODS_TAIL = "</table:table></office:spreadsheet></office:body></office:document-content>"


def spreadsheet(content: "bytes | Callable") -> bytes:
    return _zip(
        {
            "mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
            "content.xml": content,
        }
    )


def ods(rows_xml: str, prolog: str = "") -> bytes:
    return spreadsheet((ods_head(prolog) + rows_xml + ODS_TAIL).encode())


def _cell(value: str = "", *, attributes: str = "", text: str = "") -> str:
    return (
        f'<table:table-cell office:value-type="string" {attributes}>'
        f"<text:p>{text or value}</text:p></table:table-cell>"
    )


def _ods_row_of(license_cell: str) -> str:
    return (
        "<table:table-row>"
        + license_cell
        + _cell("Ann")
        + _cell("Lee")
        + _cell("a@b.example")
        + "</table:table-row>"
    )


def _json_rows(first: str) -> bytes:
    return (
        '[{"license_number": "L-1", "first_name": "Ann", "last_name": "Lee", '
        '"email": "a@b.example", "phone": "", "specialty": "Cardiology", '
        f'"departments": "", "is_active": true}}, {first}]'
    ).encode()


# The shapes -----------------------------------------------------------------------


def xlsx_styles_bomb(scale: float) -> tuple[str, bytes]:
    count = int(20_000_000 * scale) + 10
    styles = _repeated(
        f'<styleSheet xmlns="{MAIN}"><cellXfs>',
        '<xf numFmtId="0"/>',
        count,
        "</cellXfs></styleSheet>",
    )
    return "doctors.xlsx", workbook(
        '<row r="2"><c r="A2"><v>1</v></c></row>', styles=styles
    )


def xlsx_shared_strings_flood(scale: float) -> tuple[str, bytes]:
    count = int(25_000_000 * scale) + 10
    shared = _repeated(f'<sst xmlns="{MAIN}">', "<si><t>a</t></si>", count, "</sst>")
    return "doctors.xlsx", workbook(
        '<row r="2"><c r="A2" t="s"><v>0</v></c></row>', shared=shared
    )


def xlsx_wide_row(scale: float) -> tuple[str, bytes]:
    count = int(5_000_000 * scale) + 10
    return "doctors.xlsx", workbook(_sheet_stream("<c/>", count, "<row>", "</row>"))


def xlsx_valued_cells(scale: float) -> tuple[str, bytes]:
    """2M valued cells without references, in rows a little narrower than the
    most a row may have: every row has values outside the header."""
    rows = max(2, int(200 * scale))
    row = "<row>" + "<c><v>1</v></c>" * 10_000 + "</row>"
    return "doctors.xlsx", workbook(_sheet_stream(row, rows))


def xlsx_deep_nesting(scale: float) -> tuple[str, bytes]:
    depth = int(200_000 * scale) + 100
    shared = _repeated(
        f'<sst xmlns="{MAIN}"><si>' + "<r>" * depth, "</r>", depth, "</si></sst>"
    )
    return "doctors.xlsx", workbook(
        '<row r="2"><c r="A2" t="s"><v>0</v></c></row>', shared=shared
    )


def xlsx_doctype_after_bom(scale: float) -> tuple[str, bytes]:
    shared = (
        codecs.BOM_UTF8
        + (
            f'<?xml version="1.0" encoding="UTF-8"?>{ENTITY_BOMB}'
            f'<sst xmlns="{MAIN}"><si><t>&b;</t></si></sst>'
        ).encode()
    )
    return "doctors.xlsx", workbook(
        '<row r="2"><c r="A2" t="s"><v>0</v></c></row>', shared=shared
    )


def xlsx_doctype_utf16(scale: float) -> tuple[str, bytes]:
    text = (
        f'<?xml version="1.0" encoding="UTF-16"?>{ENTITY_BOMB}'
        f'<sst xmlns="{MAIN}"><si><t>&b;</t></si></sst>'
    )
    shared = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    return "doctors.xlsx", workbook(
        '<row r="2"><c r="A2" t="s"><v>0</v></c></row>', shared=shared
    )


def _shared_index(index: str) -> tuple[str, bytes]:
    shared = f'<sst xmlns="{MAIN}"><si><t>L-1</t></si></sst>'.encode()
    row = f'<row r="2"><c r="A2" t="s"><v>{index}</v></c></row>'
    return "doctors.xlsx", workbook(row, shared=shared)


def xlsx_shared_index_past_end(scale: float) -> tuple[str, bytes]:
    return _shared_index("5")


def xlsx_shared_index_negative(scale: float) -> tuple[str, bytes]:
    return _shared_index("-1")


def xlsx_long_number(scale: float) -> tuple[str, bytes]:
    return "doctors.xlsx", workbook(
        f'<row r="2"><c r="A2"><v>{"9" * 5000}</v></c></row>'
    )


def xlsx_huge_row_number(scale: float) -> tuple[str, bytes]:
    return "doctors.xlsx", workbook(f'<row r="{"9" * 5000}"><c><v>1</v></c></row>')


def ods_spaces(scale: float) -> tuple[str, bytes]:
    count = int(400_000_000 * scale) + 40_000
    cell = _cell(text=f'L<text:s text:c="{count}"/>1')
    return "doctors.ods", ods(_ods_row_of(cell))


def ods_huge_exponent(scale: float) -> tuple[str, bytes]:
    cell = (
        '<table:table-cell office:value-type="float" office:value="1E+200000000">'
        "<text:p>1</text:p></table:table-cell>"
    )
    return "doctors.ods", ods(_ods_row_of(cell))


def ods_repeated_rows(scale: float) -> tuple[str, bytes]:
    rows = max(2, int(20_000 * scale))
    row = (
        '<table:table-row table:number-rows-repeated="1000">'
        + _cell("L-1")
        + "</table:table-row>"
    )
    return "doctors.ods", spreadsheet(_repeated(ods_head(), row, rows, ODS_TAIL))


def ods_repeated_columns(scale: float) -> tuple[str, bytes]:
    cell = _cell("x", attributes='table:number-columns-repeated="999999999"')
    return "doctors.ods", ods(_ods_row_of(cell))


def ods_deep_nesting(scale: float) -> tuple[str, bytes]:
    depth = int(200_000 * scale) + 100
    head = ods_head() + "<table:table-row><table:table-cell><text:p>"
    return "doctors.ods", spreadsheet(
        _repeated(
            head + "<text:span>" * depth,
            "</text:span>",
            depth,
            "</text:p></table:table-cell></table:table-row>" + ODS_TAIL,
        )
    )


def ods_doctype_utf16(scale: float) -> tuple[str, bytes]:
    text = ods(_ods_row_of(_cell("&b;")), prolog=ENTITY_BOMB.replace("sst", "x"))
    with zipfile.ZipFile(io.BytesIO(text)) as archive:
        content = archive.read("content.xml").decode()
    content = content.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    return "doctors.ods", spreadsheet(codecs.BOM_UTF16_LE + content.encode("utf-16-le"))


def ods_doctype_after_bom(scale: float) -> tuple[str, bytes]:
    content = ods_head(ENTITY_BOMB) + _ods_row_of(_cell("&b;")) + ODS_TAIL
    return "doctors.ods", spreadsheet(codecs.BOM_UTF8 + content.encode())


def json_deep_nesting(scale: float) -> tuple[str, bytes]:
    depth = int(100_000 * scale) + 100
    return "doctors.json", _json_rows("[" * depth + "]" * depth)


def json_long_number(scale: float) -> tuple[str, bytes]:
    return "doctors.json", _json_rows('{"license_number": ' + "9" * 5000 + "}")


def json_nan(scale: float) -> tuple[str, bytes]:
    return "doctors.json", _json_rows('{"license_number": NaN}')


def json_infinity(scale: float) -> tuple[str, bytes]:
    return "doctors.json", _json_rows('{"license_number": -Infinity}')


def json_huge_float(scale: float) -> tuple[str, bytes]:
    return "doctors.json", _json_rows('{"license_number": 1e999}')


def json_duplicate_keys(scale: float) -> tuple[str, bytes]:
    return "doctors.json", _json_rows(
        '{"license_number": "L-2", "first_name": "Ann", "first_name": "Bob"}'
    )


def zip_many_members(scale: float) -> tuple[str, bytes]:
    parts: Parts = {f"x/{n}": b"" for n in range(int(50_000 * scale) + 20)}
    parts["xl/workbook.xml"] = b"<workbook/>"
    return "doctors.xlsx", _zip(parts)


SHAPES: dict[str, Callable[[float], tuple[str, bytes]]] = {
    "xlsx_styles_bomb": xlsx_styles_bomb,
    "xlsx_shared_strings_flood": xlsx_shared_strings_flood,
    "xlsx_wide_row_without_r": xlsx_wide_row,
    "xlsx_2m_valued_cells": xlsx_valued_cells,
    "xlsx_deep_nesting": xlsx_deep_nesting,
    "xlsx_doctype_after_utf8_bom": xlsx_doctype_after_bom,
    "xlsx_doctype_utf16": xlsx_doctype_utf16,
    "xlsx_shared_index_past_end": xlsx_shared_index_past_end,
    "xlsx_shared_index_minus_1": xlsx_shared_index_negative,
    "xlsx_5000_digit_number": xlsx_long_number,
    "xlsx_5000_digit_row_number": xlsx_huge_row_number,
    "ods_text_s_c_400000000": ods_spaces,
    "ods_1e200000000": ods_huge_exponent,
    "ods_20000x1000_repeated_rows": ods_repeated_rows,
    "ods_999999999_repeated_columns": ods_repeated_columns,
    "ods_deep_nesting": ods_deep_nesting,
    "ods_doctype_after_utf8_bom": ods_doctype_after_bom,
    "ods_doctype_utf16": ods_doctype_utf16,
    "json_deep_nesting": json_deep_nesting,
    "json_5000_digit_number": json_long_number,
    "json_nan": json_nan,
    "json_minus_infinity": json_infinity,
    "json_1e999": json_huge_float,
    "json_duplicate_keys": json_duplicate_keys,
    "zip_50000_members": zip_many_members,
}


def build(shape: str, scale: float = 1.0) -> tuple[str, bytes]:
    return SHAPES[shape](scale)
