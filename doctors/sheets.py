"""Writing exported rows in each file format: CSV, TSV, JSON, Excel, OpenDocument.

The rows come from doctors.exporting: the header, then typed values (text,
booleans, dates) as the Resources render them. Every writer streams: memory
stays flat whatever the number of rows.

- CSV and TSV: booleans as true/false; a text that a spreadsheet would run as
  a formula gets a "'" in front (importing takes it away again).
- Excel (.xlsx, openpyxl's write-only mode) and OpenDocument (.ods, its XML
  written directly): text is a string cell, never a formula, even when it
  starts with = + - @; booleans and dates are typed cells; the header row is
  bold and frozen and the columns are sized.
- JSON: a list of objects, one per row, as django-import-export writes it.

The format names, titles, extensions and content types are django-import-export's
(import_export.formats.base_formats).
"""

import codecs
import csv
import datetime
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO, TextIO
from xml.sax.saxutils import escape, quoteattr

from import_export.formats import base_formats
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from .formulas import neutralize
from .importing.values import format_bool

# Our format name -> django-import-export's format class.
FORMATS = {
    "csv": base_formats.CSV,
    "xlsx": base_formats.XLSX,
    "ods": base_formats.ODS,
    "json": base_formats.JSON,
    "tsv": base_formats.TSV,
}
EXPORT_CHOICES = [
    ("csv", "CSV (comma-separated)"),
    ("xlsx", "Excel workbook (.xlsx)"),
    ("ods", "OpenDocument spreadsheet (.ods)"),
    ("json", "JSON"),
    ("tsv", "TSV (tab-separated)"),
]
BINARY = {"xlsx", "ods"}
# Excel reads a CSV file as UTF-8 only when it starts with a byte order mark;
# the importer accepts files with or without one.
BOM = codecs.BOM_UTF8.decode()
MIN_WIDTH, MAX_WIDTH = 8, 48


def extension(file_format: str) -> str:
    return FORMATS[file_format]().get_extension()


def content_type(file_format: str) -> str:
    content = FORMATS[file_format]().get_content_type()
    return content if file_format in BINARY else f"{content}; charset=utf-8"


def column_widths(header: list[str], widths: dict[str, int]) -> list[int]:
    """Character widths: the column's usual width, never less than its name."""
    return [
        max(MIN_WIDTH, min(MAX_WIDTH, max(len(name) + 2, widths.get(name, 0))))
        for name in header
    ]


# CSV, TSV, JSON ---------------------------------------------------------------


def text_cell(value) -> str:
    """A typed value as the text of a CSV/TSV cell, formula-safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return format_bool(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return neutralize(str(value))


class _Line:
    """A file-like object whose write() returns what was written: lets
    csv.writer produce one line at a time for streaming."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list], *, delimiter: str = ",") -> Iterator[str]:
    """CSV (or TSV) text, line by line, starting with the byte order mark."""
    writer = csv.writer(_Line(), delimiter=delimiter)
    first = True
    for row in rows:
        line = writer.writerow([text_cell(value) for value in row])
        if first:
            line = BOM + line
            first = False
        yield line


def json_chunks(rows: Iterable[list]) -> Iterator[str]:
    """A JSON list with one object per row (header names as keys)."""
    rows = iter(rows)
    header = next(rows)
    yield "["
    separator = "\n"
    for row in rows:
        record = {
            name: value.isoformat()
            if isinstance(value, (datetime.date, datetime.time))
            else value
            for name, value in zip(header, row, strict=True)
        }
        yield separator + json.dumps(record, ensure_ascii=False)
        separator = ",\n"
    yield "\n]\n"


def text_chunks(file_format: str, rows: Iterable[list]) -> Iterator[str]:
    if file_format == "json":
        return json_chunks(rows)
    return csv_lines(rows, delimiter="\t" if file_format == "tsv" else ",")


def write_text(file_format: str, rows: Iterable[list], stream: TextIO) -> int:
    """Write `rows` to a text stream; return the number of data rows."""
    seen = 0

    def counted():
        nonlocal seen
        for row in rows:
            seen += 1
            yield row

    for chunk in text_chunks(file_format, counted()):
        stream.write(chunk)
    return max(seen - 1, 0)


# Excel ------------------------------------------------------------------------


def _xlsx_text(value: str) -> str:
    if not value.isprintable():
        # Control characters other than tab and line breaks cannot be stored.
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def write_xlsx(
    rows: Iterable[list], stream: BinaryIO, *, sheet: str, widths: dict[str, int]
) -> int:
    """An Excel workbook of one sheet; returns the number of data rows."""
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)
    rows = iter(rows)
    header = next(rows)
    for position, width in enumerate(column_widths(header, widths), start=1):
        worksheet.column_dimensions[get_column_letter(position)].width = width
    worksheet.freeze_panes = "A2"
    bold = Font(bold=True)
    cells = []
    for name in header:
        cell = WriteOnlyCell(worksheet, value=name)
        cell.font = bold
        cells.append(cell)
    worksheet.append(cells)
    count = 0
    append = worksheet.append
    for row in rows:
        for value in row:
            kind = value.__class__
            if (
                kind is str and value and (value[0] == "=" or not value.isprintable())
            ) or (kind is datetime.date):
                row = [_xlsx_cell(worksheet, value) for value in row]
                break
        append(row)
        count += 1
    workbook.save(stream)
    return count


def _xlsx_cell(worksheet, value):
    """A value openpyxl would not store as we mean it, as a cell that does."""
    if isinstance(value, str):
        value = _xlsx_text(value)
        if value.startswith("="):
            # openpyxl would store it as a formula: make it a text cell.
            cell = WriteOnlyCell(worksheet, value=value)
            cell.data_type = "s"
            return cell
    elif value.__class__ is datetime.date:
        cell = WriteOnlyCell(worksheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    return value


# OpenDocument -----------------------------------------------------------------

ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" '
    'xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0" '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'office:version="1.3"'
)
_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
    'manifest:1.0" manifest:version="1.3">'
    + "".join(
        f'<manifest:file-entry manifest:full-path="{path}" '
        f'manifest:media-type="{media}"/>'
        for path, media in [
            ("/", ODS_MIMETYPE),
            ("content.xml", "text/xml"),
            ("styles.xml", "text/xml"),
            ("settings.xml", "text/xml"),
        ]
    )
    + "</manifest:manifest>"
)
_STYLES = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-styles {_NS}>'
    "</office:document-styles>"
)
_SPACES = re.compile(r"^ +|  +|\t|\n", re.MULTILINE)


def _ods_settings(sheet: str) -> str:
    """Settings that freeze the first row of `sheet`."""
    items = "".join(
        f'<config:config-item config:name="{name}" config:type="{kind}">{value}'
        "</config:config-item>"
        for name, kind, value in [
            ("VerticalSplitMode", "short", 2),
            ("VerticalSplitPosition", "int", 1),
            ("ActiveSplitRange", "short", 2),
            ("PositionBottom", "int", 1),
        ]
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-settings {_NS}>'
        '<office:settings><config:config-item-set config:name="ooo:view-settings">'
        '<config:config-item-map-indexed config:name="Views">'
        "<config:config-item-map-entry>"
        '<config:config-item config:name="ViewId" config:type="string">view1'
        "</config:config-item>"
        '<config:config-item-map-named config:name="Tables">'
        f"<config:config-item-map-entry config:name={quoteattr(sheet)}>{items}"
        "</config:config-item-map-entry></config:config-item-map-named>"
        "</config:config-item-map-entry></config:config-item-map-indexed>"
        "</config:config-item-set></office:settings></office:document-settings>"
    )


def _ods_paragraphs(text: str) -> str:
    """Text as ODF paragraphs, keeping every space, tab and line break."""

    def spaces(match: re.Match) -> str:
        found = match.group()
        if found == "\t":
            return "<text:tab/>"
        if found == "\n":
            return "</text:p><text:p>"
        if match.start() == 0 or match.string[match.start() - 1] == "\n":
            return f'<text:s text:c="{len(found)}"/>'  # leading spaces
        return f' <text:s text:c="{len(found) - 1}"/>'

    body = _SPACES.sub(spaces, escape(_xlsx_text(text.replace("\r\n", "\n"))))
    return f"<text:p>{body}</text:p>"


def _ods_cell(value) -> str:
    if value is None or value == "":
        return "<table:table-cell/>"
    if isinstance(value, bool):
        word = "true" if value else "false"
        return (
            f'<table:table-cell office:value-type="boolean" office:boolean-value='
            f'"{word}"><text:p>{word.upper()}</text:p></table:table-cell>'
        )
    if isinstance(value, (datetime.date, datetime.datetime)):
        iso = value.isoformat()
        return (
            '<table:table-cell table:style-name="date" office:value-type="date" '
            f'office:date-value="{iso}">'
            f"<text:p>{iso}</text:p></table:table-cell>"
        )
    if isinstance(value, (int, float)):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    return (
        '<table:table-cell office:value-type="string">'
        f"{_ods_paragraphs(str(value))}</table:table-cell>"
    )


def write_ods(
    rows: Iterable[list], stream: BinaryIO, *, sheet: str, widths: dict[str, int]
) -> int:
    """An OpenDocument spreadsheet of one sheet; returns the number of data rows."""
    rows = iter(rows)
    header = next(rows)
    count = 0
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
        # The mimetype comes first and uncompressed, as ODF requires.
        archive.writestr(
            zipfile.ZipInfo("mimetype"), ODS_MIMETYPE, compress_type=zipfile.ZIP_STORED
        )
        archive.writestr("META-INF/manifest.xml", _MANIFEST)
        archive.writestr("styles.xml", _STYLES)
        archive.writestr("settings.xml", _ods_settings(sheet))
        with archive.open("content.xml", "w", force_zip64=True) as raw:
            out = codecs.getwriter("utf-8")(raw)
            column_styles = "".join(
                f'<style:style style:name="co{position}" style:family="table-column">'
                "<style:table-column-properties "
                f'style:column-width="{width * 0.21:.2f}cm"/>'
                "</style:style>"
                for position, width in enumerate(column_widths(header, widths))
            )
            out.write(
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<office:document-content {_NS}>"
                f"<office:automatic-styles>{column_styles}"
                '<number:date-style style:name="iso-date"><number:year '
                'number:style="long"/><number:text>-</number:text><number:month '
                'number:style="long"/><number:text>-</number:text><number:day '
                'number:style="long"/></number:date-style>'
                '<style:style style:name="date" style:family="table-cell" '
                'style:data-style-name="iso-date"/>'
                '<style:style style:name="header" style:family="table-cell">'
                '<style:text-properties fo:font-weight="bold"/></style:style>'
                "</office:automatic-styles><office:body><office:spreadsheet>"
                f"<table:table table:name={quoteattr(sheet)}>"
            )
            out.write(
                "".join(
                    f'<table:table-column table:style-name="co{position}"/>'
                    for position in range(len(header))
                )
            )
            out.write(
                "<table:table-row>"
                + "".join(
                    '<table:table-cell table:style-name="header" '
                    f'office:value-type="string">{_ods_paragraphs(name)}'
                    "</table:table-cell>"
                    for name in header
                )
                + "</table:table-row>"
            )
            buffer = []
            for row in rows:
                buffer.append(
                    "<table:table-row>"
                    + "".join(_ods_cell(value) for value in row)
                    + "</table:table-row>"
                )
                count += 1
                if len(buffer) >= 500:
                    out.write("".join(buffer))
                    buffer.clear()
            out.write("".join(buffer))
            out.write(
                "</table:table></office:spreadsheet></office:body>"
                "</office:document-content>"
            )
    return count


def write_binary(
    file_format: str,
    rows: Iterable[list],
    stream: BinaryIO,
    *,
    sheet: str,
    widths: dict[str, int],
) -> int:
    writer = write_xlsx if file_format == "xlsx" else write_ods
    return writer(rows, stream, sheet=sheet, widths=widths)
