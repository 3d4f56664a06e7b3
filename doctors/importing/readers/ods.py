"""One sheet of an OpenDocument spreadsheet (.ods), read as a stream within
the limits.

content.xml is parsed by xml_stream, one row at a time. What the format
compresses is counted as it is expanded: a row repeated (number-rows-repeated)
counts as that many rows, a cell repeated (number-columns-repeated) as that
many cells, and `<text:s text:c="N"/>` as N characters of its cell. Repeats of
blank rows and cells cost nothing: they are only counted past.
"""

import codecs
import datetime
import html
import re
from collections.abc import Iterator

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
)
from .limits import ReaderLimits
from .xml_stream import PartHandler

CONTENT = "content.xml"
TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
FORMULA = "urn:oasis:names:tc:opendocument:xmlns:of:1.2}formula"
SHEET, ROW = TABLE + "table", TABLE + "table-row"
CELL, COVERED = TABLE + "table-cell", TABLE + "covered-table-cell"
PARAGRAPHS = frozenset((TEXT + "p", TEXT + "h"))
SPACES, TAB, BREAK = TEXT + "s", TEXT + "tab", TEXT + "line-break"
ANNOTATION = OFFICE + "annotation"
NUMBER_TYPES = frozenset(("float", "percentage", "currency"))
_TABLE_NAME = re.compile(rb'<table:table\s[^>]*?table:name="([^"]*)"')
# A start tag longer than this is not one a sheet name is looked for in.
LONGEST_TAG = 1 << 16


class OdsSheet:
    """The sheet named like `preferred` (else the first) of an .ods file."""

    def __init__(self, archive: Archive, limits: ReaderLimits, preferred: str):
        self.archive = archive
        self.limits = limits
        # Known once the header is read; repeated cells already cost nothing.
        self.header_width: int | None = None
        names = self._sheet_names()
        if not names:
            raise ImportFileError("The spreadsheet has no sheets.")
        self.name = pick_sheet(names, preferred)

    def _sheet_names(self) -> list[str]:
        names: list[str] = []
        tail = b""
        wide = None  # a decoder when the part is UTF-16 (the pattern is ASCII)
        for number, block in enumerate(
            self.archive.blocks(CONTENT, self.limits.part_bytes)
        ):
            if number == 0 and block.startswith(
                (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
            ):
                wide = codecs.getincrementaldecoder("utf-16")("replace")
            if wide is not None:
                block = wide.decode(block).encode()
            data = tail + block
            for match in _TABLE_NAME.findall(data):
                names.append(html.unescape(match.decode("utf-8", "replace")))
            cut = data.rfind(b"<")
            tail = data[cut:] if cut >= 0 and b">" not in data[cut:] else b""
            if len(tail) > LONGEST_TAG:
                tail = b""
        return names

    def rows(self) -> Iterator[SheetRow]:
        handler = _SheetRows(self.name, self.limits)
        blocks = self.archive.blocks(CONTENT, self.limits.part_bytes)
        for _ in xml_stream.parse(blocks, handler):
            if handler.done:
                yield from handler.done
                handler.done = []
            if handler.finished:
                return


def _count(attributes: dict[str, str], name: str, sheet: str) -> int:
    """A repeat or span count, bounded: at most nine digits."""
    text = attributes.get(name)
    if text is None:
        return 1
    text = text.strip()
    if not text.isdigit() or len(text) > 9:
        raise ImportFileError(
            f"Sheet {sheet}: {name.rpartition('}')[2]}={text[:20]!r} is no count."
        )
    return int(text)


class _SheetRows(PartHandler):
    def __init__(self, sheet: str, limits: ReaderLimits):
        super().__init__(CONTENT, limits)
        self.sheet = sheet
        self.in_sheet = False
        self.finished = False
        self.done: list[SheetRow] = []
        self.number = 0  # the last row number passed
        self.rows = 0  # rows with values, after repeats
        self.cells: list[Cell] | None = None
        self.cell_elements = 0
        self.pending_blank = 0
        self.row_repeat = 1
        self.cell: dict[str, str] | None = None
        self.paragraphs: list[str] = []
        self.skipped = 0  # inside an annotation
        self.interrupted: list[str] | None = None  # the text around it

    def start(self, name, attributes):
        self.depth += 1
        self.elements += 1
        if self.depth > self.max_depth or self.elements > self.max_elements:
            self.too_large()
        if name == SHEET:
            self.in_sheet = attributes.get(TABLE + "name") == self.sheet
            return
        if not self.in_sheet:
            return
        if self.cell is not None:
            if self.skipped or name == ANNOTATION:
                if not self.skipped:
                    # A comment on the cell, even inside its paragraph, is not
                    # its text.
                    self.interrupted, self.capture = self.capture, None
                self.skipped += 1
            elif name in PARAGRAPHS:
                self.capture = []
            elif self.capture is not None:
                if name == SPACES:
                    self._add_spaces(self._spaces(attributes))
                elif name == TAB:
                    self._add("\t")
                elif name == BREAK:
                    self._add("\n")
            return
        if name == ROW:
            self.cells = []
            self.cell_elements = 0
            self.pending_blank = 0
            self.row_repeat = _count(
                attributes, TABLE + "number-rows-repeated", self.sheet
            )
        elif name in (CELL, COVERED) and self.cells is not None:
            self.cell_elements += 1
            if self.cell_elements > self.limits.columns:
                raise ImportFileError(
                    f"Sheet {self.sheet}: row {self.number + 1} has more than "
                    f"{self.limits.columns:,} cells."
                )
            self.cell = attributes
            self.paragraphs = []
            self.captured = 0

    def _spaces(self, attributes) -> int:
        text = attributes.get(TEXT + "c", "1").strip()
        if not text.isdigit() or len(text) > 9:
            return self.max_text + 1
        return int(text)

    def _add_spaces(self, count: int) -> None:
        # Counted before the spaces are made: c="400000000" makes none.
        if self.captured + count > self.max_text:
            self.too_much_text()
        self._add(" " * count)

    def _add(self, text: str) -> None:
        self.captured += len(text)
        if self.captured > self.max_text:
            self.too_much_text()
        self.capture.append(text)

    def end(self, name):
        self.depth -= 1
        if not self.in_sheet:
            return
        if self.cell is not None:
            if self.skipped:
                self.skipped -= 1
                if not self.skipped:
                    self.capture, self.interrupted = self.interrupted, None
            elif name in PARAGRAPHS and self.capture is not None:
                self.paragraphs.append("".join(self.capture))
                self.capture = None
            elif name in (CELL, COVERED):
                self._close_cell(name)
            return
        if name == ROW and self.cells is not None:
            self._close_row()
        elif name == SHEET:
            self.in_sheet = False
            self.finished = True

    def _column(self) -> int:
        return len(self.cells) + self.pending_blank

    def too_much_text(self):
        raise cell_error(
            self.sheet,
            min(self._column(), self.limits.columns),
            self.number + 1,
            f"has more than {self.max_text:,} characters",
        )

    def _close_cell(self, name: str) -> None:
        attributes, self.cell = self.cell, None
        number = self.number + 1
        column = self._column()
        repeat = _count(attributes, TABLE + "number-columns-repeated", self.sheet)
        spanned = (
            _count(attributes, TABLE + "number-columns-spanned", self.sheet) > 1
            or _count(attributes, TABLE + "number-rows-spanned", self.sheet) > 1
        )
        if spanned:
            raise cell_error(
                self.sheet,
                column,
                number,
                "is merged with its neighbours; unmerge the cells and give each "
                "its own value",
            )
        value = self._value(attributes, column, number)
        if name == COVERED and value.text:
            raise cell_error(
                self.sheet,
                column,
                number,
                "is hidden under merged cells; unmerge the cells and give each "
                "its own value",
            )
        if not value.text:
            self.pending_blank += repeat
            return
        if column + repeat > self.limits.columns:
            raise ImportFileError(
                f"Sheet {self.sheet}: row {number} has more than "
                f"{self.limits.columns:,} columns."
            )
        self.cells.extend([BLANK] * self.pending_blank)
        self.pending_blank = 0
        self.cells.extend([value] * repeat)

    def _value(self, attributes: dict[str, str], column: int, number: int) -> Cell:
        kind = attributes.get(OFFICE + "value-type")
        shown = "\n".join(self.paragraphs).strip()
        if kind in NUMBER_TYPES:
            raw = attributes.get(OFFICE + "value", "").strip()
            if not raw:
                return Cell(shown)
            amount = parse_number(raw, self.limits)
            if amount is None:
                raise cell_error(
                    self.sheet,
                    column,
                    number,
                    "holds a number too long or too large to read",
                )
            text = number_text(amount, shown)
            # A plain number, unless the display padded it with zeros (00042).
            return Cell(text, text == number_text(amount))
        if kind == "boolean":
            return Cell(
                "true"
                if attributes.get(OFFICE + "boolean-value") == "true"
                else "false"
            )
        if kind == "date":
            raw = attributes.get(OFFICE + "date-value", "")[: self.limits.number_chars]
            try:
                return Cell(date_text(datetime.datetime.fromisoformat(raw)))
            except ValueError:
                return Cell(raw)
        if kind is None and attributes.get(FORMULA):
            return BLANK
        return Cell(shown)

    def _close_row(self) -> None:
        cells, self.cells = self.cells, None
        repeat = self.row_repeat
        if not cells:
            self.number += repeat
            return
        if repeat > self.limits.repeated_rows:
            raise ImportFileError(
                f"Sheet {self.sheet}: row {self.number + 1} is repeated {repeat} "
                "times; that many identical rows cannot be imported."
            )
        self.rows += repeat
        if self.rows > self.limits.rows:
            raise ImportFileError(
                f"Sheet {self.sheet} has more than {self.limits.rows:,} rows with "
                "values (counting repeated rows); that is more than can be imported."
            )
        for _ in range(repeat):
            self.number += 1
            self.done.append(SheetRow(self.number, cells))
