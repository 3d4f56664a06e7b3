"""One sheet of an Excel workbook (.xlsx), read as a stream within the limits.

The small parts (relationships, the workbook's sheet list, the styles) are
read first, then the shared strings, then the sheet's XML one row at a time:
memory holds the shared strings, one number format code per cell style and
one row. Every part goes through xml_stream (elements, depth, bytes counted;
no DOCTYPE). openpyxl's rules decide which number formats are dates and how
Excel's date serials read. A cell refers to a shared string by its index,
which must be one of the workbook's.
"""

import datetime
from collections.abc import Iterator
from typing import NamedTuple

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import (
    CALENDAR_MAC_1904,
    CALENDAR_WINDOWS_1900,
    from_excel,
)

from ..errors import ImportFileError
from . import xml_stream
from .archive import Archive
from .cells import (
    BLANK,
    Cell,
    SheetRow,
    cell_error,
    date_text,
    number_text,
    parse_number,
    pick_sheet,
    zero_padded,
)
from .limits import ReaderLimits
from .xml_stream import PartHandler, local

RELATIONSHIP_ID = "}id"  # in either namespace (transitional or strict)
NAMESPACES = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",  # "Strict Open XML"
)
# The element names of the sheet and the shared strings, in either namespace,
# by their local name: one dictionary look-up per element, not a split.
SHEET_NAMES = {
    f"{namespace}}}{name}": name
    for namespace in NAMESPACES
    for name in ("row", "c", "v", "t", "rPh", "mergeCell", "is", "r", "si")
}
DIGITS = frozenset("0123456789")
_COLUMNS: dict[str, int] = {}


class Workbook:
    """The parts of an .xlsx file needed to read one sheet's values."""

    def __init__(self, archive: Archive, limits: ReaderLimits, preferred: str):
        self.archive = archive
        self.limits = limits
        # The header's columns, once the header is read (see table).
        self.header_width: int | None = None
        workbook_path = _office_document(self)
        folder = workbook_path.rpartition("/")[0]
        relations = self._relations(workbook_path)
        listing = _SheetList(workbook_path, limits)
        self._parse_small(workbook_path, listing)
        self.epoch = CALENDAR_MAC_1904 if listing.date1904 else CALENDAR_WINDOWS_1900
        sheets = {
            name: _join(folder, relations[key].target)
            for name, key in listing.sheets
            if key in relations
        }
        if not sheets:
            raise ImportFileError("The workbook has no sheets.")
        self.name = pick_sheet(list(sheets), preferred)
        self.sheet_path = sheets[self.name]
        if self.sheet_path not in archive.names():
            raise ImportFileError(
                f"The part of sheet {self.name} is missing; the workbook is damaged."
            )
        self.strings: list[str] = []
        self.number_formats: list[str] = []
        for relation in relations.values():
            path = _join(folder, relation.target)
            if relation.kind.endswith("/sharedStrings"):
                self.strings = self._shared_strings(path)
            elif relation.kind.endswith("/styles"):
                self.number_formats = self._number_formats(path)
        dates = {code: is_date_format(code) for code in set(self.number_formats)}
        self.date_styles = frozenset(
            index for index, code in enumerate(self.number_formats) if dates[code]
        )
        # Styles whose format is zeros only (00000): the digits shown are kept.
        self.padded_styles = frozenset(
            index
            for index, code in enumerate(self.number_formats)
            if code and code.strip("0") == ""
        )

    def _parse_small(self, path: str, handler: PartHandler) -> None:
        blocks = self.archive.blocks(path, self.limits.small_part_bytes)
        for _ in xml_stream.parse(blocks, handler):
            pass

    def _relations(self, part: str) -> dict[str, "_Relation"]:
        folder, _, name = part.rpartition("/")
        path = f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"
        if path not in self.archive.names():
            return {}
        handler = _Relations(path, self.limits)
        self._parse_small(path, handler)
        return handler.relations

    def _shared_strings(self, path: str) -> list[str]:
        handler = _SharedStrings(path, self.limits)
        blocks = self.archive.blocks(path, self.limits.part_bytes)
        for _ in xml_stream.parse(blocks, handler):
            pass
        return handler.strings

    def _number_formats(self, path: str) -> list[str]:
        handler = _Styles(path, self.limits)
        self._parse_small(path, handler)
        return handler.number_formats()

    def rows(self) -> Iterator[SheetRow]:
        """(row number, cells) of the sheet's rows; then the merged ranges
        (mergeCell, after the cells) are refused if any."""
        handler = _SheetRows(self)
        blocks = self.archive.blocks(self.sheet_path, self.limits.part_bytes)
        for _ in xml_stream.parse(blocks, handler):
            if handler.done:
                yield from handler.done
                handler.done = []
        if handler.merges:
            shown = ", ".join(handler.merges[:5])
            more = len(handler.merges) - 5
            raise ImportFileError(
                f"Sheet {self.name} has merged cells ({shown}"
                f"{f' and {more} more' if more > 0 else ''}); unmerge them and "
                "give each cell its own value."
            )


class _Relation(NamedTuple):
    kind: str
    target: str


class _SheetEntry(NamedTuple):
    """A sheet in the workbook's list: its name and its relationship id."""

    name: str
    relation: str


class _Relations(PartHandler):
    def __init__(self, part, limits):
        super().__init__(part, limits)
        self.relations: dict[str, _Relation] = {}

    def open(self, name, attributes):
        if local(name) == "Relationship":
            if len(self.relations) >= self.limits.zip_members:
                raise ImportFileError(f"Part {self.part} has too many relationships.")
            self.relations[attributes.get("Id", "")] = _Relation(
                attributes.get("Type", ""), attributes.get("Target", "")
            )


class _SheetList(PartHandler):
    def __init__(self, part, limits):
        super().__init__(part, limits)
        self.sheets: list[_SheetEntry] = []
        self.date1904 = False

    def open(self, name, attributes):
        name = local(name)
        if name == "sheet":
            key = next(
                (v for k, v in attributes.items() if k.endswith(RELATIONSHIP_ID)), ""
            )
            self.sheets.append(_SheetEntry(attributes.get("name", ""), key))
        elif name == "workbookPr":
            self.date1904 = attributes.get("date1904", "false").lower() in (
                "1",
                "true",
            )


class _SharedStrings(PartHandler):
    """The text of each <si>: its <t> elements, directly or in rich-text runs
    (<r>), without the phonetic hints (<rPh>) some workbooks carry."""

    def __init__(self, part, limits):
        super().__init__(part, limits)
        self.strings: list[str] = []
        self.pieces: list[str] = []
        self.chars = 0
        self.hints = 0

    def start(self, name, attributes):
        self.depth += 1
        self.elements += 1
        if self.depth > self.max_depth or self.elements > self.max_elements:
            self.too_large()
        name = SHEET_NAMES.get(name, name)
        if name == "t" and not self.hints:
            self.begin_text()
        elif name == "rPh":
            self.hints += 1
        elif name == "si":
            self.pieces = []
            if len(self.strings) >= self.limits.shared_strings:
                raise ImportFileError(
                    f"Part {self.part} has more than "
                    f"{self.limits.shared_strings:,} shared strings; that is more "
                    "than can be imported."
                )

    def end(self, name):
        self.depth -= 1
        name = SHEET_NAMES.get(name, name)
        if name == "t" and self.capture is not None:
            self.pieces.append(self.end_text())
        elif name == "rPh":
            self.hints -= 1
        elif name == "si":
            text = "".join(self.pieces)
            self.chars += len(text)
            if self.chars > self.limits.shared_string_chars:
                raise ImportFileError(
                    f"Part {self.part} has more than "
                    f"{self.limits.shared_string_chars:,} characters of shared "
                    "strings; that is more than can be imported."
                )
            self.strings.append(text)


class _Styles(PartHandler):
    """The number format code of each cell style (cellXfs), by style index."""

    def __init__(self, part, limits):
        super().__init__(part, limits)
        self.custom: dict[int, str] = {}
        self.styles: list[int] = []
        # The styleSheet's child being read: number formats are the ones of
        # numFmts (differential formats, dxfs, have some too), cell styles
        # those of cellXfs.
        self.section = ""

    def open(self, name, attributes):
        name = local(name)
        if self.depth == 2:
            self.section = name
        elif self.depth != 3:
            return
        if name == "numFmt" and self.section == "numFmts":
            if len(self.custom) >= self.limits.styles:
                self.too_many("number formats")
            self.custom[self._id(attributes)] = attributes.get("formatCode", "")[
                : self.limits.cell_chars
            ]
        elif name == "xf" and self.section == "cellXfs":
            if len(self.styles) >= self.limits.styles:
                self.too_many("cell styles")
            self.styles.append(self._id(attributes))

    def _id(self, attributes) -> int:
        number = attributes.get("numFmtId", "0")
        if len(number) > 6 or not DIGITS.issuperset(number):
            return -1
        return int(number or 0)

    def too_many(self, what: str) -> None:
        raise ImportFileError(
            f"Part {self.part} has more than {self.limits.styles:,} {what}; "
            "no spreadsheet has that many."
        )

    def number_formats(self) -> list[str]:
        return [
            self.custom.get(number) or BUILTIN_FORMATS.get(number, "")
            for number in self.styles
        ]


class _SheetRows(PartHandler):
    """A sheet's rows as they are parsed; `done` holds the rows finished."""

    def __init__(self, workbook: Workbook):
        super().__init__(workbook.sheet_path, workbook.limits)
        self.workbook = workbook
        self.sheet = workbook.name
        self.done: list[SheetRow] = []
        self.merges: list[str] = []
        self.number = 0
        self.rows = 0
        self.cells: list[Cell] | None = None
        self.cell: dict[str, str] | None = None
        self.value: str | None = None
        self.inline: list[str] = []
        self.hints = 0
        self.row_cells = 0  # cell elements in the row, with values or not
        self.outside_header = False

    def start(self, name, attributes):
        self.depth += 1
        self.elements += 1
        if self.depth > self.max_depth or self.elements > self.max_elements:
            self.too_large()
        name = SHEET_NAMES.get(name, name)
        cells = self.cells
        if cells is None:
            if name == "row":
                self._open_row(attributes)
            elif name == "mergeCell" and len(self.merges) < self.limits.columns:
                self.merges.append(attributes.get("ref", "")[:40])
            return
        if name == "c":
            self.row_cells += 1
            if (
                len(cells) >= self.limits.columns
                or self.row_cells > self.limits.columns
            ):
                raise cell_error(
                    self.sheet,
                    max(len(cells), self.row_cells - 1),
                    self.number,
                    f"is past the last column a row may have ({self.limits.columns:,})",
                )
            if self.outside_header:
                # The row is refused for its first value outside the header:
                # the cells after it are counted, not read.
                return
            reference = attributes.get("r")
            if reference:
                column = self._column(reference)
                if column > len(cells):
                    cells.extend([BLANK] * (column - len(cells)))
            self.cell = attributes
            self.value = None
            self.inline = []
        elif self.cell is None:
            return
        elif name == "v" or (name == "t" and not self.hints):
            self.begin_text()
        elif name == "rPh":
            self.hints += 1

    def _open_row(self, attributes):
        reference = attributes.get("r")
        if reference:
            if len(reference) > 7 or not DIGITS.issuperset(reference):
                raise ImportFileError(
                    f"Sheet {self.sheet}: a row is numbered {reference[:20]!r}, "
                    "which is no row number."
                )
            number = int(reference)
        else:
            number = self.number + 1
        if number > self.limits.rows:
            raise ImportFileError(
                f"Sheet {self.sheet} has a row {number:,}; at most "
                f"{self.limits.rows:,} rows can be imported."
            )
        self.number = number
        self.cells = []
        self.row_cells = 0
        self.outside_header = False

    def _column(self, reference: str) -> int:
        letters = reference.rstrip("0123456789")
        index = _COLUMNS.get(letters)
        if index is None:
            index = 0
            for letter in letters.upper()[:4]:
                if not "A" <= letter <= "Z":
                    index = -1
                    break
                index = index * 26 + ord(letter) - 64
            index -= 1
            if not letters or len(letters) > 3 or not 0 <= index < self.limits.columns:
                raise ImportFileError(
                    f"Sheet {self.sheet}: row {self.number} has a cell "
                    f"{reference[:20]!r}, which is no cell a sheet has."
                )
            _COLUMNS[letters] = index
        return index

    def end(self, name):
        self.depth -= 1
        if self.cells is None:
            return
        name = SHEET_NAMES.get(name, name)
        if name == "v" and self.capture is not None:
            self.value = self.end_text()
        elif name == "t" and self.capture is not None:
            self.inline.append(self.end_text())
        elif name == "rPh":
            self.hints -= 1
        elif name == "c" and self.cell is not None:
            cell = self._cell(self.cell, len(self.cells))
            self.cells.append(cell)
            self.cell = None
            width = self.workbook.header_width
            if cell.text and width is not None and len(self.cells) > width:
                self.outside_header = True
        elif name == "row":
            if self.cells:
                self.done.append(SheetRow(self.number, self.cells))
            self.cells = None

    def too_much_text(self):
        column = len(self.cells or ())
        raise cell_error(
            self.sheet,
            column,
            self.number,
            f"has more than {self.max_text:,} characters",
        )

    def _cell(self, cell: dict[str, str], column: int) -> Cell:
        kind = cell.get("t", "n")
        if kind == "inlineStr":
            return Cell("".join(self.inline).strip())
        value = self.value
        if value is None:
            return BLANK
        workbook = self.workbook
        if kind == "s":
            index = value.strip()
            strings = workbook.strings
            if (
                not index
                or len(index) > 10
                or not DIGITS.issuperset(index)
                or int(index) >= len(strings)
            ):
                raise cell_error(
                    self.sheet,
                    column,
                    self.number,
                    f"refers to shared string {index[:20]!r}, which the workbook "
                    f"does not have (it has {len(strings):,})",
                )
            return Cell(strings[int(index)].strip())
        if kind == "str":
            return Cell(value.strip())
        if kind == "b":
            return Cell("true" if value.strip() in ("1", "true") else "false")
        if kind == "e":
            raise cell_error(
                self.sheet,
                column,
                self.number,
                f"shows the error {value[:20]}; correct it or type the value",
            )
        if kind == "d":
            try:
                return Cell(date_text(datetime.datetime.fromisoformat(value)))
            except ValueError:
                return Cell(value.strip())
        if (
            value.isdigit()
            and value.isascii()
            and len(value) <= self.limits.number_chars
        ):
            amount: int | float = int(value)
            whole = True
        else:
            number = parse_number(value, self.limits)
            if number is None:
                text = value.strip()
                if text and len(text) <= self.limits.number_chars:
                    return Cell(text)
                raise cell_error(
                    self.sheet,
                    column,
                    self.number,
                    "holds a number too long or too large to read",
                )
            written_as_float = "." in value or "e" in value or "E" in value
            amount = float(number) if written_as_float else int(number)
            whole = not written_as_float or amount.is_integer()
        style_text = cell.get("s")
        if not style_text:
            style = 0
        elif len(style_text) <= 6 and style_text.isdigit() and style_text.isascii():
            style = int(style_text)
        else:
            style = -1
        if style in workbook.date_styles:
            try:
                moment = from_excel(amount, workbook.epoch)
            except (OverflowError, ValueError):
                raise cell_error(
                    self.sheet,
                    column,
                    self.number,
                    "holds a date Excel cannot show",
                ) from None
            if isinstance(moment, (datetime.date, datetime.time)):
                return Cell(date_text(moment))
            return Cell(str(moment))
        shown = ""
        if whole and style in workbook.padded_styles:
            shown = zero_padded(int(amount), workbook.number_formats[style])
        return Cell(number_text(amount, shown), not shown)


def _office_document(workbook: Workbook) -> str:
    for relation in workbook._relations("").values():
        if relation.kind.endswith("/officeDocument"):
            return _join("", relation.target)
    return "xl/workbook.xml"


def _join(folder: str, target: str) -> str:
    """A relationship's target as a path in the archive."""
    if target.startswith("/"):
        return target[1:]
    path: list[str] = []
    for part in (folder.split("/") if folder else []) + target.split("/"):
        if part == "..":
            if path:
                path.pop()
        elif part and part != ".":
            path.append(part)
    return "/".join(path)
