"""Reading one sheet of an Excel workbook (.xlsx) as a stream.

The workbook's small parts (sheet list, relationships, styles) and its shared
strings are read first; then the sheet's XML is parsed one row element at a
time and each row dropped once read, so memory holds the shared strings and
one row. This is what openpyxl's read-only mode does, without its per-cell
objects: several times as fast (bench/import_doctors.py measures both), with
openpyxl's own rules for date formats and Excel's date serials.

The small parts are parsed by defusedxml. The large ones (sheets, shared
strings) go through the standard library's C parser, which defusedxml's
Python-level parser would slow down threefold; `iterparse` below first refuses
any document type declaration (no workbook part has one: it is how entity
tricks come in), and expat itself limits entity expansion.
"""

import datetime
import re
import zipfile
from collections.abc import Iterator
from typing import BinaryIO
from xml.etree import ElementTree

from defusedxml.ElementTree import fromstring
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import (
    CALENDAR_MAC_1904,
    CALENDAR_WINDOWS_1900,
    from_excel,
)

# The most columns a sheet has (Excel's XFD); also the .ods reader's bound.
MAX_COLUMNS = 16384
NAMESPACES = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",  # "Strict Open XML"
)
RELATIONSHIP_IDS = (
    "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id",
    "{http://purl.oclc.org/ooxml/officeDocument/relationships}id",
)


def _tags(name: str) -> frozenset[str]:
    return frozenset(f"{{{namespace}}}{name}" for namespace in NAMESPACES)


SHEET_DATA, ROW, CELL, VALUE = (_tags(name) for name in ("sheetData", "row", "c", "v"))
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?ref="([A-Za-z0-9:$]+)"')
_COLUMNS: dict[str, int] = {}


class CellError(Exception):
    """A cell that cannot be read as a value (#N/A)."""

    def __init__(self, column: int, row: int, message: str):
        super().__init__(message)
        self.column = column
        self.row = row


class WorkbookError(Exception):
    """The workbook's structure cannot be read."""


class Workbook:
    """The parts of an .xlsx file needed to read its sheets' values."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        stream.seek(0)
        try:
            with zipfile.ZipFile(stream) as archive:
                self._read(archive)
        except (KeyError, ValueError, SyntaxError, zipfile.BadZipFile) as error:
            raise WorkbookError(f"{type(error).__name__}: {error}") from None
        finally:
            stream.seek(0)

    def _read(self, archive: zipfile.ZipFile) -> None:
        workbook_path = _office_document(archive)
        folder = workbook_path.rpartition("/")[0]
        relations = _relations(archive, workbook_path)
        self.sheets: dict[str, str] = {}  # name -> path, in the workbook's order
        self.epoch = CALENDAR_WINDOWS_1900
        for element in _xml(archive, workbook_path).iter():
            name = _local(element.tag)
            if name == "sheet":
                target = next(
                    (
                        relations[element.get(key)][1]
                        for key in RELATIONSHIP_IDS
                        if element.get(key) in relations
                    ),
                    None,
                )
                if target:
                    self.sheets[element.get("name", "")] = _join(folder, target)
            elif name == "workbookPr":
                if element.get("date1904", "false").lower() in ("1", "true"):
                    self.epoch = CALENDAR_MAC_1904
        names = set(archive.namelist())
        missing = [name for name, path in self.sheets.items() if path not in names]
        if missing:
            raise KeyError(f"the part of sheet {missing[0]} is missing")
        self.strings: list[str] = []
        self.formats: list[str] = []
        for kind, target in relations.values():
            if kind.endswith("/sharedStrings"):
                self.strings = _shared_strings(archive, _join(folder, target))
            elif kind.endswith("/styles"):
                self.formats = _cell_formats(archive, _join(folder, target))
        self.date_styles = frozenset(
            index for index, code in enumerate(self.formats) if is_date_format(code)
        )

    def merges(self, sheet: str) -> list[str]:
        """The merged ranges of a sheet: a scan of its XML for mergeCell
        elements (they come after the cells), so they are known up front."""
        merges: list[str] = []
        self.stream.seek(0)
        with zipfile.ZipFile(self.stream) as archive:
            with archive.open(self.sheets[sheet]) as xml:
                tail = b""
                while block := xml.read(1 << 20):
                    data = tail + block
                    merges.extend(m.decode() for m in _MERGE.findall(data))
                    # An element may straddle two blocks: keep an unclosed tail.
                    cut = data.rfind(b"<")
                    tail = data[cut:] if cut >= 0 and b">" not in data[cut:] else b""
        self.stream.seek(0)
        return merges

    def rows(self, sheet: str) -> Iterator[tuple[int, list[tuple[str, bool]]]]:
        """(row number, cells) of a sheet's rows that have cells; a cell is
        (its text as a person sees it, whether it was a plain number)."""
        self.stream.seek(0)
        with zipfile.ZipFile(self.stream) as archive:
            with archive.open(self.sheets[sheet]) as xml:
                yield from self._rows(xml)

    def _rows(self, xml) -> Iterator[tuple[int, list[tuple[str, bool]]]]:
        number = 0
        parent = None
        for event, element in iterparse(xml, events=("start", "end")):
            tag = element.tag
            if event == "start":
                if tag in SHEET_DATA:
                    parent = element
                continue
            if tag not in ROW:
                continue
            number = int(element.get("r") or number + 1)
            cells: list[tuple[str, bool]] = []
            for cell in element:
                if cell.tag not in CELL:
                    continue
                reference = cell.get("r")
                if reference:
                    column = _column_index(reference.rstrip("0123456789"))
                    if column > len(cells):
                        cells.extend([("", False)] * (column - len(cells)))
                cells.append(self._cell(cell, len(cells), number))
            if parent is not None:
                parent.remove(element)
            yield number, cells

    def _cell(self, cell, column: int, number: int) -> tuple[str, bool]:
        from .sources import date_text, number_text, zero_padded

        kind = cell.get("t", "n")
        if kind == "inlineStr":
            text = "".join(
                "".join(_texts(child)) for child in cell if _local(child.tag) == "is"
            )
            return text.strip(), False
        value = None
        for child in cell:
            if child.tag in VALUE:
                value = child.text
                break
        if value is None:
            return "", False
        if kind == "s":
            return self.strings[int(value)].strip(), False
        if kind == "str":
            return value.strip(), False
        if kind == "b":
            return ("true" if value.strip() in ("1", "true") else "false"), False
        if kind == "e":
            raise CellError(column, number, value)
        if kind == "d":
            try:
                return date_text(datetime.datetime.fromisoformat(value)), False
            except ValueError:
                return value.strip(), False
        style = int(cell.get("s") or 0)
        try:
            if "." in value or "e" in value or "E" in value:
                amount = float(value)
            else:
                amount = int(value)
        except ValueError:
            return value.strip(), False
        if style in self.date_styles:
            moment = from_excel(amount, self.epoch)
            if isinstance(moment, (datetime.date, datetime.time)):
                return date_text(moment), False
            return str(moment), False
        shown = ""
        if isinstance(amount, int) or amount.is_integer():
            code = self.formats[style] if style < len(self.formats) else ""
            shown = zero_padded(int(amount), code)
        return number_text(amount, shown), not shown


class UnsafeXml(ValueError):
    """An XML part with a document type declaration."""


# The prolog: white space, the XML declaration, comments, processing instructions.
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
MAX_PROLOG = 1 << 20


def iterparse(xml, events):
    """ElementTree's iterparse of a binary stream, refusing a DOCTYPE."""
    head = b""
    while True:
        block = xml.read(1 << 16)
        head += block
        position = 0
        while match := _PROLOG_ITEM.match(head, position):
            position = match.end()
        rest = head[position:]
        unfinished = len(rest) < 4 or rest.startswith((b"<!--", b"<?"))
        if not unfinished and rest.startswith(b"<!"):
            raise UnsafeXml("a document type declaration is not allowed")
        if not unfinished or not block:
            break
        if len(head) > MAX_PROLOG:
            raise UnsafeXml("the XML prolog is too long")
    return ElementTree.iterparse(_Replay(head, xml), events=events)


class _Replay:
    """A stream that gives `head` again, then the rest of `stream`."""

    def __init__(self, head: bytes, stream):
        self.head = head
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        if self.head:
            data, self.head = self.head, b""
            return data
        return self.stream.read(size)


def _column_index(letters: str) -> int:
    """0-based index of a column's letters: A -> 0, AA -> 26."""
    index = _COLUMNS.get(letters)
    if index is None:
        index = 0
        for letter in letters.upper():
            if not "A" <= letter <= "Z":
                raise ValueError(f"no column {letters!r}")
            index = index * 26 + ord(letter) - 64
        index -= 1
        if not 0 <= index < MAX_COLUMNS:
            raise ValueError(f"no column {letters!r}")
        _COLUMNS[letters] = index
    return index


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _xml(archive: zipfile.ZipFile, path: str):
    return fromstring(archive.read(path))


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


def _office_document(archive: zipfile.ZipFile) -> str:
    for kind, target in _relations(archive, "").values():
        if kind.endswith("/officeDocument"):
            return _join("", target)
    return "xl/workbook.xml"


def _relations(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type, target) of a part ("" for the package)."""
    folder, _, name = part.rpartition("/")
    path = f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"
    try:
        root = _xml(archive, path)
    except KeyError:
        return {}
    return {
        element.get("Id"): (element.get("Type", ""), element.get("Target", ""))
        for element in root
        if _local(element.tag) == "Relationship"
    }


def _texts(element) -> Iterator[str]:
    """The text of a string item (<si>, <is>): its <t> elements, without the
    phonetic hints (<rPh>) some Asian-language workbooks carry."""
    for child in element:
        name = _local(child.tag)
        if name == "t":
            yield child.text or ""
        elif name == "r":
            yield from _texts(child)


def _shared_strings(archive: zipfile.ZipFile, path: str) -> list[str]:
    strings: list[str] = []
    parent = None
    with archive.open(path) as xml:
        for event, element in iterparse(xml, events=("start", "end")):
            if event == "start":
                if _local(element.tag) == "sst":
                    parent = element
                continue
            if _local(element.tag) == "si":
                strings.append("".join(_texts(element)))
                if parent is not None:
                    parent.remove(element)
    return strings


def _cell_formats(archive: zipfile.ZipFile, path: str) -> list[str]:
    """The number format code of each cell style (cellXfs), by style index."""
    custom: dict[int, str] = {}
    formats: list[str] = []
    for element in _xml(archive, path):
        name = _local(element.tag)
        if name == "numFmts":
            for number_format in element:
                custom[int(number_format.get("numFmtId", "0"))] = number_format.get(
                    "formatCode", ""
                )
        elif name == "cellXfs":
            for style in element:
                number = int(style.get("numFmtId", "0"))
                formats.append(custom.get(number) or BUILTIN_FORMATS.get(number, ""))
    return formats
