"""A file read as a table: its header, then its rows as cells by column name.

This is what the reading process (sandbox) hands back, and all it hands back;
checking the rows against the database is left to the importer. A sheet's
header is its first row with values; blank rows are skipped; a value in a
column without a header is refused with its cell.
"""

from collections.abc import Callable, Iterator
from typing import BinaryIO, NamedTuple

from ..errors import ImportFileError
from ..parsing import check_header
from .archive import Archive
from .cells import Cell, cell_ref
from .detect import FILE_FORMAT_NAMES, JSON, ODS, XLSX, detect_format
from .json_rows import JsonObjects, cell_text
from .limits import ReaderLimits


class TableRequest(NamedTuple):
    """What to read, as the importer asks for it."""

    columns: tuple[str, ...]
    file_name: str = ""
    file_format: str = ""
    encoding: str = ""
    sheet_name: str = ""


class TableInfo(NamedTuple):
    file_format: str
    encoding: str
    # The sheet read ("" for JSON) and the row its header is on.
    sheet: str
    header: list[str]
    header_row: int


class TableRow(NamedTuple):
    number: int
    cells: dict[str, str]
    # Set when the row cannot be read as cells of the header's columns.
    error: str | None = None
    # The key (first column) was a number cell: it may have lost zeros.
    key_was_number: bool = False


class Table(NamedTuple):
    info: TableInfo
    rows: Callable[[], Iterator[TableRow]]


def read_table(stream: BinaryIO, request: TableRequest, limits: ReaderLimits) -> Table:
    """The header of `stream` (a workbook or JSON file), and a function that
    yields its rows. ImportFileError for a file that cannot be read."""
    found = detect_format(stream, request.file_name, request.file_format, limits=limits)
    if found == JSON:
        return _json_table(stream, request, limits)
    if found not in (XLSX, ODS):
        raise ImportFileError(
            f"A {FILE_FORMAT_NAMES[found]} is not read here."
        )  # the importer reads CSV and TSV itself
    return _sheet_table(stream, request, limits, found)


def _sheet_table(stream, request: TableRequest, limits: ReaderLimits, found: str):
    # Imported here: the reading process then loads openpyxl (a twentieth of
    # a second) only for the format that needs it.
    from .ods import OdsSheet
    from .xlsx import Workbook

    kind = FILE_FORMAT_NAMES[found]
    archive = Archive(stream, limits, kind=kind)
    if found == XLSX:
        sheet = Workbook(archive, limits, request.sheet_name)
    else:
        sheet = OdsSheet(archive, limits, request.sheet_name)
    records = sheet.rows()
    for row_number, cells in records:
        texts = [cell.text for cell in cells]
        if any(texts):
            header_row = row_number
            header = [text.lower() for text in texts]
            while header and not header[-1]:
                header.pop()
            break
    else:
        raise ImportFileError(f"Sheet {sheet.name} is empty.")
    try:
        header = check_header(header, request.columns, kind=kind)
    except ImportFileError as error:
        raise ImportFileError(
            f"Sheet {sheet.name}: {error.message}", row=header_row
        ) from None
    info = TableInfo(found, "", sheet.name, header, header_row)
    sheet.header_width = len(header)

    def rows() -> Iterator[TableRow]:
        # The header was read from the same stream of rows: go on from there.
        for row_number, cells in records:
            if any(cell.text for cell in cells):
                yield _sheet_row(info, row_number, cells)

    return Table(info, rows)


def _sheet_row(info: TableInfo, number: int, cells: list[Cell]) -> TableRow:
    """The row's cells by column name, or the first value outside the header."""
    header = info.header
    width = len(header)
    for position in range(width, len(cells)):
        if cells[position].text:
            return TableRow(
                number,
                {},
                error=f"cell {cell_ref(position, number)} has a value, but its "
                "column has no header (the header names every column that holds "
                "values)",
            )
    values = {
        name: cells[position].text if position < len(cells) else ""
        for position, name in enumerate(header)
    }
    key = cells[0] if cells else Cell("")
    return TableRow(number, values, key_was_number=key.was_number)


def _json_table(stream, request: TableRequest, limits: ReaderLimits) -> Table:
    objects = JsonObjects(stream, request.encoding or "utf-8", limits)
    try:
        for _, value in objects:
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
    header = check_header(header, request.columns, kind="JSON")
    info = TableInfo(JSON, objects.encoding, "", header, 0)

    def rows() -> Iterator[TableRow]:
        try:
            for number, value in objects:
                yield _json_row(info, request.columns, number, value)
        except UnicodeDecodeError:
            raise ImportFileError("This JSON file is not UTF-8 text.") from None

    return Table(info, rows)


def _json_row(info: TableInfo, columns, number: int, value) -> TableRow:
    if not isinstance(value, dict):
        return TableRow(number, {}, error=f"object {number} is not an object {{...}}")
    cells = {}
    for name, item in value.items():
        column = str(name).strip().lower()
        if column not in columns:
            return TableRow(number, {}, error=f"unknown key {name[:60]!r}")
        text = cell_text(item)
        if text is None:
            return TableRow(
                number,
                {},
                error=f"{name}: a text, number, true/false or null is expected, "
                f"not a {type(item).__name__}",
            )
        cells[column] = text
    for column in info.header:
        cells.setdefault(column, "")
    return TableRow(number, cells)
