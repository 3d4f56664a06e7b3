"""Reading the other import formats: Excel (.xlsx), OpenDocument (.ods), TSV, JSON.

Every source offers what parsing.CsvSource offers: `header`, `encoding`,
`file_format` and `rows()`, which yields parsing.Row objects one at a time and
can be called again (the importer reads the file twice). So the checks,
the preview and the writes are the same whatever the format.

Spreadsheets are read as a stream, never whole: .xlsx with an incremental
parse of the sheet's XML (importing.xlsx; faster than openpyxl's read-only
mode and than tablib, which django-import-export's XLSX format uses: see
bench/import_doctors.py), .ods with an incremental parse of its content.xml. The sheet
read is the one named after what is imported (`Doctors`, `Departments`), else
the first one. A cell comes in as the text a person sees in it: the number
123 as "123", 5551234.0 as "5551234", TRUE as "true", a date as 2026-01-31,
a formula as its last calculated value. Blank rows, and columns after the
last header cell, are ignored. Merged cells, error values (#N/A) and a sheet
without the header are refused, and every problem names its sheet and cell
(`Doctors!B7`).

A key (license number, department code) that a spreadsheet stored as a number
has lost any leading zeros it had; when the database holds the key with zeros
in front, the row is refused rather than guessed at.
"""

import codecs
import datetime
import html
import io
import json
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import BinaryIO
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from openpyxl.utils import get_column_letter

from . import xlsx
from .parsing import CsvSource, ImportFileError, Row, check_header
from .validation import Problem
from .xlsx import MAX_COLUMNS, iterparse

CSV, TSV, XLSX, ODS, JSON = "csv", "tsv", "xlsx", "ods", "json"
FORMAT_CHOICES = [
    ("", "Detect automatically"),
    (CSV, "CSV (comma-separated)"),
    (TSV, "TSV (tab-separated)"),
    (XLSX, "Excel workbook (.xlsx)"),
    (ODS, "OpenDocument spreadsheet (.ods)"),
    (JSON, "JSON (a list of objects)"),
]
FORMAT_NAMES = dict(FORMAT_CHOICES)
EXTENSIONS = {
    ".csv": CSV,
    ".tsv": TSV,
    ".tab": TSV,
    ".xlsx": XLSX,
    ".xlsm": XLSX,
    ".ods": ODS,
    ".json": JSON,
}
ZIP_SIGNATURE = b"PK\x03\x04"
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0"
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
# A workbook that unpacks to more than this is refused before it is read.
MAX_UNPACKED_BYTES = 512 * 1_048_576
# A row an .ods file says to repeat more often than this is refused.
MAX_REPEATED_ROWS = 1000
KEY_CHECK_CHUNK = 1000


def format_from_name(file_name: str) -> str | None:
    return EXTENSIONS.get(os.path.splitext(file_name or "")[1].lower())


def detect_format(stream: BinaryIO, file_name: str = "", chosen: str = "") -> str:
    """The file's format: from its content where that is certain (zip, old
    Excel), else the format chosen, else the file name, else a look at the
    first characters. ImportFileError when the content contradicts the choice."""
    stream.seek(0)
    head = stream.read(8)
    stream.seek(0)
    if head.startswith(ZIP_SIGNATURE):
        found = _zip_format(stream)
        if chosen and chosen != found:
            raise ImportFileError(
                f"You chose {FORMAT_NAMES[chosen]}, but this file is an "
                f"{FORMAT_NAMES[found]}."
            )
        return found
    if head.startswith(OLE_SIGNATURE):
        raise ImportFileError(
            "This is an old Excel workbook (.xls), which cannot be imported. "
            "In Excel use File > Save As > Excel Workbook (.xlsx)."
        )
    expected = chosen or format_from_name(file_name)
    if expected in (XLSX, ODS):
        raise ImportFileError(
            f"This file is not an {FORMAT_NAMES[expected]}: it is not a zip "
            "archive, as every workbook is. Is it a CSV file with the wrong name?"
        )
    if expected:
        return expected
    start = stream.read(4096)
    stream.seek(0)
    text = start.lstrip(codecs.BOM_UTF8).lstrip()
    if text[:1] in (b"[", b"{"):
        return JSON
    first_line = text.split(b"\n", 1)[0]
    if b"\t" in first_line and b"," not in first_line:
        return TSV
    return CSV


def _zip_format(stream: BinaryIO) -> str:
    try:
        with zipfile.ZipFile(stream) as archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" in names:
                return XLSX
            if "mimetype" in names and archive.read("mimetype").startswith(
                ODS_MIMETYPE
            ):
                return ODS
    except (zipfile.BadZipFile, OSError):
        raise ImportFileError(
            "This looks like an Excel workbook (.xlsx) or another zip file, but "
            "it is damaged or incomplete and cannot be opened."
        ) from None
    finally:
        stream.seek(0)
    raise ImportFileError(
        "This is a zip file, but neither an Excel workbook (.xlsx) nor an "
        "OpenDocument spreadsheet (.ods)."
    )


def open_source(
    stream: BinaryIO,
    *,
    columns: Sequence[str],
    file_name: str = "",
    file_format: str | None = None,
    encoding: str | None = None,
    sheet_name: str = "",
    key_model=None,
):
    """The source that reads `stream` in its format (see detect_format).

    `sheet_name` is the sheet to prefer in a workbook; `key_model` the model
    whose key (the first column) a number cell may have lost zeros from.
    """
    found = detect_format(stream, file_name, file_format or "")
    if found in (CSV, TSV):
        source = CsvSource(
            stream,
            columns=columns,
            encoding=encoding,
            delimiter="\t" if found == TSV else ",",
        )
        source.file_format = found
        return source
    if found == JSON:
        return JsonSource(stream, columns=columns, encoding=encoding)
    sheet_class = XlsxSheet if found == XLSX else OdsSheet
    return SheetSource(
        sheet_class(stream, sheet_name),
        columns=columns,
        key_model=key_model,
    )


# Cells -> text ----------------------------------------------------------------


def number_text(value: int | float | Decimal, shown: str = "") -> str:
    """A number as a person reads it: no ".0", no exponent; `shown` is the
    text the spreadsheet displays, kept when it is the same whole number with
    zeros in front (a cell formatted 00000)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        value = int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, int):
        text = str(value)
        if shown.isdigit() and len(shown) > len(text) and int(shown) == value:
            return shown
        return text
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def zero_padded(value: int, number_format: str) -> str:
    """The digits an Excel number format of zeros only (00000) shows."""
    if value >= 0 and re.fullmatch(r"0+", number_format or ""):
        return str(value).zfill(len(number_format))
    return ""


def date_text(value: datetime.date | datetime.time) -> str:
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    return value.isoformat()


def cell_ref(column: int, row: int) -> str:
    """Spreadsheet notation of 0-based `column` and `row` number: B7."""
    return f"{get_column_letter(column + 1)}{row}"


class CellError(Exception):
    """A cell that cannot be read as a value (#N/A, part of a merge)."""


# Workbooks --------------------------------------------------------------------


class XlsxSheet:
    """One sheet of an Excel workbook (see importing.xlsx).

    `records()` yields (row number, [(text, was a number cell), ...]).
    """

    file_format = XLSX

    def __init__(self, stream: BinaryIO, preferred: str):
        _check_unpacked_size(stream)
        try:
            self.workbook = xlsx.Workbook(stream)
        except xlsx.WorkbookError as error:
            raise ImportFileError(
                f"This Excel workbook cannot be read ({error}). Open it in Excel "
                "and save it again as .xlsx."
            ) from None
        if not self.workbook.sheets:
            raise ImportFileError("The workbook has no sheets.")
        self.name = _pick_sheet(list(self.workbook.sheets), preferred)
        self.merged = self.workbook.merges(self.name)

    def records(self) -> Iterator[tuple[int, list]]:
        try:
            yield from self.workbook.rows(self.name)
        except xlsx.CellError as error:
            raise CellError(
                f"cell {cell_ref(error.column, error.row)} shows the error {error}; "
                "correct it or type the value"
            ) from None
        except DAMAGED as error:
            raise _damaged(self.name, error) from None


# What reading a damaged workbook raises: bad XML (or XML with entity tricks,
# which defusedxml refuses), a broken zip, a cell reference that is no cell.
DAMAGED = (ParseError, DefusedXmlException, zipfile.BadZipFile, ValueError, OSError)


def _damaged(sheet: str, error: Exception) -> ImportFileError:
    return ImportFileError(
        f"Sheet {sheet} cannot be read: the file is damaged ({error}). Open it in "
        "the spreadsheet program and save it again."
    )


def _check_unpacked_size(stream: BinaryIO) -> None:
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise ImportFileError(
            "This workbook is damaged or incomplete and cannot be opened."
        ) from None
    finally:
        stream.seek(0)
    if total > MAX_UNPACKED_BYTES:
        raise ImportFileError(
            f"This workbook unpacks to {total / 1_048_576:.0f} MB; at most "
            f"{MAX_UNPACKED_BYTES // 1_048_576} MB can be imported. Split it."
        )


def _pick_sheet(names: list[str], preferred: str) -> str:
    for name in names:
        if name.strip().lower() == preferred.lower():
            return name
    return names[0]


TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE_NAME = re.compile(rb'<table:table\s[^>]*?table:name="([^"]*)"')


class OdsSheet:
    """One sheet of an OpenDocument spreadsheet: content.xml parsed as a
    stream, one row element at a time (repeated rows and cells unfolded only
    when they hold something)."""

    file_format = ODS

    def __init__(self, stream: BinaryIO, preferred: str):
        _check_unpacked_size(stream)
        self.stream = stream
        names = self._sheet_names()
        if not names:
            raise ImportFileError("The spreadsheet has no sheets.")
        self.name = _pick_sheet(names, preferred)
        self.merged: list[str] = []

    def _open(self):
        self.stream.seek(0)
        archive = zipfile.ZipFile(self.stream)
        try:
            return archive, archive.open("content.xml")
        except KeyError:
            archive.close()
            raise ImportFileError(
                "This OpenDocument file has no content.xml; it is damaged."
            ) from None

    def _sheet_names(self) -> list[str]:
        archive, xml = self._open()
        names, tail = [], b""
        with archive, xml:
            while block := xml.read(1 << 20):
                data = tail + block
                names.extend(
                    html.unescape(m.decode()) for m in _TABLE_NAME.findall(data)
                )
                cut = data.rfind(b"<")
                tail = data[cut:] if cut >= 0 and b">" not in data[cut:] else b""
        return names

    def records(self) -> Iterator[tuple[int, list]]:
        archive, xml = self._open()
        try:
            with archive, xml:
                yield from self._parse(xml)
        except DAMAGED as error:
            raise _damaged(self.name, error) from None

    def _parse(self, xml) -> Iterator[tuple[int, list]]:
        stack: list = []
        in_sheet = False
        done = False
        number = 0
        for event, element in iterparse(xml, events=("start", "end")):
            if event == "start":
                stack.append(element)
                if element.tag == TABLE + "table":
                    in_sheet = element.get(TABLE + "name") == self.name
                continue
            stack.pop()
            tag = element.tag
            if tag == TABLE + "table":
                if in_sheet:
                    done = True
                in_sheet = False
            elif tag == TABLE + "table-row" and in_sheet:
                repeat = int(element.get(TABLE + "number-rows-repeated", "1"))
                cells = _ods_row(element, number + 1)
                if stack:
                    stack[-1].remove(element)
                if not any(text for text, _ in cells):
                    number += repeat
                    continue
                if repeat > MAX_REPEATED_ROWS:
                    raise ImportFileError(
                        f"Sheet {self.name}: row {number + 1} is repeated {repeat} "
                        "times; that many identical rows cannot be imported."
                    )
                for _ in range(repeat):
                    number += 1
                    yield number, cells
            if done:
                return


def _ods_row(row, number: int) -> list[tuple[str, bool]]:
    cells: list[tuple[str, bool]] = []
    pending_blank = 0
    for cell in row:
        repeat = int(cell.get(TABLE + "number-columns-repeated", "1"))
        column = len(cells) + pending_blank
        spanned = int(cell.get(TABLE + "number-columns-spanned", "1")) > 1 or (
            int(cell.get(TABLE + "number-rows-spanned", "1")) > 1
        )
        if spanned:
            raise CellError(
                f"cell {cell_ref(column, number)} is merged with its neighbours; "
                "unmerge the cells and give each its own value"
            )
        value = _ods_value(cell)
        if cell.tag == TABLE + "covered-table-cell" and value[0]:
            raise CellError(
                f"cell {cell_ref(column, number)} is hidden under merged cells; "
                "unmerge the cells and give each its own value"
            )
        if not value[0]:
            pending_blank += repeat
            continue
        if column + repeat > MAX_COLUMNS:
            raise CellError(f"row {number} has more than {MAX_COLUMNS} columns")
        cells.extend([("", False)] * pending_blank)
        pending_blank = 0
        cells.extend([value] * repeat)
    return cells


def _ods_value(cell) -> tuple[str, bool]:
    kind = cell.get(OFFICE + "value-type")
    shown = _ods_text(cell)
    if kind in ("float", "percentage", "currency"):
        raw = cell.get(OFFICE + "value", "")
        try:
            number = Decimal(raw)
        except ArithmeticError:
            return shown.strip(), False
        text = number_text(number, shown.strip())
        # A plain number, unless the display padded it with zeros (00042).
        return text, text == number_text(number)
    if kind == "boolean":
        return (
            "true" if cell.get(OFFICE + "boolean-value") == "true" else "false"
        ), False
    if kind == "date":
        raw = cell.get(OFFICE + "date-value", "")
        try:
            return date_text(datetime.datetime.fromisoformat(raw)), False
        except ValueError:
            return raw, False
    if kind == "time":
        return shown.strip(), False
    if kind is None and cell.get(
        "{urn:oasis:names:tc:opendocument:xmlns:of:1.2}formula"
    ):
        return "", False
    return shown.strip(), False


def _ods_text(cell) -> str:
    """The text of a cell's paragraphs, with spaces, tabs and breaks."""
    paragraphs = []
    for paragraph in cell:
        if paragraph.tag in (TEXT + "p", TEXT + "h"):
            paragraphs.append("".join(_inline(paragraph)))
    return "\n".join(paragraphs)


def _inline(element) -> Iterator[str]:
    if element.text:
        yield element.text
    for child in element:
        tag = child.tag
        if tag == TEXT + "s":
            yield " " * int(child.get(TEXT + "c", "1"))
        elif tag == TEXT + "tab":
            yield "\t"
        elif tag == TEXT + "line-break":
            yield "\n"
        elif tag not in (OFFICE + "annotation",):
            yield from _inline(child)
        if child.tail:
            yield child.tail


class SheetSource:
    """A workbook's sheet as import rows, with problems named by cell."""

    def __init__(self, sheet, *, columns: Sequence[str], key_model=None):
        self.sheet = sheet
        self.columns = tuple(columns)
        self.file_format = sheet.file_format
        self.encoding = ""
        self.key_model = key_model
        self.kind = FORMAT_NAMES[self.file_format]
        if sheet.merged:
            shown = ", ".join(sheet.merged[:5])
            more = f" and {len(sheet.merged) - 5} more" if len(sheet.merged) > 5 else ""
            raise ImportFileError(
                f"Sheet {sheet.name} has merged cells ({shown}{more}); unmerge "
                "them and give each cell its own value."
            )
        self.header, self.header_row = self._read_header()

    def _read_header(self) -> tuple[list[str], int]:
        try:
            for row_number, cells in self.sheet.records():
                texts = [text for text, _ in cells]
                if any(texts):
                    number = row_number
                    header = [text.lower() for text in texts]
                    while header and not header[-1]:
                        header.pop()
                    break
            else:
                raise ImportFileError(f"Sheet {self.sheet.name} is empty.")
        except CellError as error:
            raise ImportFileError(f"Sheet {self.sheet.name}: {error}.") from None
        try:
            return check_header(header, self.columns, kind=self.kind), number
        except ImportFileError as error:
            raise ImportFileError(
                f"Sheet {self.sheet.name}: {error.message}", row=number
            ) from None

    def rows(self) -> Iterator[Row]:
        width = len(self.header)
        key = self.columns[0]
        key_position = self.header.index(key)
        waiting: list[tuple[Row, str]] = []
        records = self.sheet.records()
        while True:
            try:
                number, cells = next(records)
            except StopIteration:
                break
            except CellError as error:
                raise ImportFileError(f"Sheet {self.sheet.name}: {error}.") from None
            if number <= self.header_row:
                continue
            if not any(text for text, _ in cells):
                continue
            extra = [
                cell_ref(position, number)
                for position in range(width, len(cells))
                if cells[position][0]
            ]
            if extra:
                yield Row(
                    number,
                    {},
                    error=f"cell {extra[0]} has a value, but its column has no "
                    "header (the header names every column that holds values)",
                )
                continue
            padded = cells + [("", False)] * (width - len(cells))
            row = Row(
                number,
                {
                    name: padded[position][0]
                    for position, name in enumerate(self.header)
                },
            )
            key_text, key_was_number = padded[key_position]
            if key_was_number and self.key_model is not None and key_text.isdigit():
                waiting.append((row, key_text))
                if len(waiting) >= KEY_CHECK_CHUNK:
                    yield from self._check_keys(waiting, key, key_position)
                    waiting = []
                continue
            if waiting:
                yield from self._check_keys(waiting, key, key_position)
                waiting = []
            yield row
        yield from self._check_keys(waiting, key, key_position)

    def _check_keys(self, waiting, key: str, key_position: int) -> Iterator[Row]:
        """Rows whose key was a number cell: refused when the database has the
        same number with zeros in front, which the spreadsheet dropped."""
        if not waiting:
            return
        numbers = sorted({text for _, text in waiting})
        pattern = r"^0+(" + "|".join(numbers) + r")$"
        padded = {}
        for value in self.key_model.objects.filter(
            **{f"{key}__regex": pattern}
        ).values_list(key, flat=True):
            padded.setdefault(value.lstrip("0"), value)
        noun = self.key_model._meta.verbose_name
        for row, text in waiting:
            match = padded.get(text)
            if match is None:
                yield row
                continue
            yield Row(
                row.number,
                {},
                error=f"cell {cell_ref(key_position, row.number)} ({key}) holds the "
                f"number {text}, and {noun} {match} exists: the spreadsheet dropped "
                f"the zeros in front. Format the column as Text and type {match}",
            )

    def locate(self, problem: Problem) -> Problem:
        """The problem with the sheet and cell it is about (Doctors!B7)."""
        if problem.row is None:
            return problem
        if problem.column in self.header:
            where = cell_ref(self.header.index(problem.column), problem.row)
            column = f"{problem.column} (cell {self.sheet.name}!{where})"
        else:
            column = f"sheet {self.sheet.name}" + (
                f", {problem.column}" if problem.column else ""
            )
        return Problem(problem.row, column, problem.message)


# JSON -------------------------------------------------------------------------


class JsonSource:
    """A JSON array of objects, one per row, as django-import-export writes it.

    Read incrementally: one object at a time is decoded. Row numbers count the
    objects (the first is 1). Values may be text, numbers, true/false or null.
    """

    file_format = JSON
    BLOCK = 1 << 16

    def __init__(self, stream: BinaryIO, *, columns: Sequence[str], encoding=None):
        self.stream = stream
        self.columns = tuple(columns)
        self.encoding = encoding or "utf-8"
        self.header = self._read_header()

    def _objects(self) -> Iterator[tuple[int, object]]:
        self.stream.seek(0)
        text = _Text(codecs.getreader(self.encoding)(self.stream), self.BLOCK)
        if text.peek() == "\ufeff":
            text.position += 1
        if text.peek() == "":
            raise ImportFileError("The file is empty.")
        if text.peek() != "[":
            raise ImportFileError(
                "This JSON file is not a list of objects: it must start with [ "
                "(as an export writes it)."
            )
        text.position += 1
        number = 0
        decoder = json.JSONDecoder()
        while True:
            char = text.peek()
            if char == "]":
                text.position += 1
                if text.peek() != "":
                    raise ImportFileError(
                        "There is more after the closing ] of the list."
                    )
                return
            if number:
                if char != ",":
                    raise ImportFileError(
                        f"A , or ] was expected after object {number}"
                        + (" (the file ends too early)." if char == "" else "."),
                        row=number,
                    )
                text.position += 1
                text.peek()
            while True:
                try:
                    value, end = decoder.raw_decode(text.buffer, text.position)
                except json.JSONDecodeError as error:
                    if text.more():
                        continue
                    raise ImportFileError(
                        f"Object {number + 1} is not valid JSON ({error.msg}).",
                        row=number + 1,
                    ) from None
                break
            number += 1
            text.position = end
            yield number, value

    def _read_header(self) -> list[str]:
        try:
            for _, value in self._objects():
                if not isinstance(value, dict):
                    raise ImportFileError(
                        "This JSON file is not a list of objects: its first item "
                        f"is {type(value).__name__}."
                    )
                header = [str(name).strip().lower() for name in value]
                break
            else:
                raise ImportFileError("The file has no objects.")
        except UnicodeDecodeError:
            raise ImportFileError("This JSON file is not UTF-8 text.") from None
        return check_header(header, self.columns, kind="JSON")

    def rows(self) -> Iterator[Row]:
        try:
            for number, value in self._objects():
                yield self._row(number, value)
        except UnicodeDecodeError:
            raise ImportFileError("This JSON file is not UTF-8 text.") from None

    def _row(self, number: int, value) -> Row:
        if not isinstance(value, dict):
            return Row(number, {}, error=f"object {number} is not an object {{...}}")
        cells = {}
        for name, item in value.items():
            column = str(name).strip().lower()
            if column not in self.columns:
                return Row(number, {}, error=f"unknown key {name!r}")
            if item is None:
                text = ""
            elif isinstance(item, bool):
                text = "true" if item else "false"
            elif isinstance(item, (int, float)):
                text = number_text(item)
            elif isinstance(item, str):
                text = item.strip()
            else:
                return Row(
                    number,
                    {},
                    error=f"{name}: a text, number, true/false or null is expected, "
                    f"not a {type(item).__name__}",
                )
            cells[column] = text
        for column in self.header:
            cells.setdefault(column, "")
        return Row(number, cells)

    def locate(self, problem: Problem) -> Problem:
        if problem.row is None:
            return problem
        column = (
            f"{problem.column} (object {problem.row})"
            if problem.column
            else (f"object {problem.row}")
        )
        return Problem(problem.row, column, problem.message)


class _Text:
    """Decoded text read block by block, with the part not yet parsed."""

    # One object larger than this is not a row of ours.
    MAX_OBJECT = 1 << 22

    def __init__(self, reader, block: int):
        self.reader = reader
        self.block = block
        self.buffer = ""
        self.position = 0

    def more(self) -> bool:
        """Read another block; False at the end of the file."""
        if len(self.buffer) - self.position > self.MAX_OBJECT:
            return False
        data = self.reader.read(self.block)
        if not data:
            return False
        self.buffer = self.buffer[self.position :] + data
        self.position = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            while self.position < len(self.buffer):
                if self.buffer[self.position] not in " \t\r\n":
                    return self.buffer[self.position]
                self.position += 1
            if not self.more():
                return ""


def estimate_rows(content: bytes, file_name: str = "", chosen: str = "") -> int:
    """An upper bound on the rows of an uploaded file, cheap to get: lines of
    text, objects of JSON, row elements of a sheet (without unpacking cells)."""
    stream = io.BytesIO(content)
    try:
        found = detect_format(stream, file_name, chosen)
    except ImportFileError:
        return 0
    if found in (CSV, TSV):
        # Whichever line ending it uses (CR LF, LF or CR).
        return max(content.count(b"\n"), content.count(b"\r"))
    if found == JSON:
        return content.count(b"{")
    marker = b"<row " if found == XLSX else b"<table:table-row"
    count = 0
    try:
        # A workbook too large to import is refused at once, wherever it runs.
        _check_unpacked_size(stream)
    except ImportFileError:
        return 0
    try:
        with zipfile.ZipFile(stream) as archive:
            names = [
                name
                for name in archive.namelist()
                if name == "content.xml" or name.startswith("xl/worksheets/sheet")
            ]
            for name in names:
                with archive.open(name) as xml:
                    tail = b""
                    while block := xml.read(1 << 20):
                        data = tail + block
                        count += data.count(marker)
                        tail = data[-len(marker) + 1 :]
    except (zipfile.BadZipFile, OSError):
        return 0
    return count
