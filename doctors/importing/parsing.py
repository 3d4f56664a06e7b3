"""Reading an uploaded CSV file: encoding, header, rows, and files that are not CSV.

The file is read as a stream, never whole: `CsvSource.rows()` yields one row at
a time and can be called again (the importer reads the file twice: once to
check every row, once to write). Row numbers are the ones a spreadsheet shows:
the header is row 1, blank lines count.
"""

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ..formulas import restore
from .errors import ImportFileError
from .text import shown

BLOCK_SIZE = 1 << 20
# Lines longer than this are not a table anyone typed; the csv module's own
# default limit (128 KiB) would make every text column unbounded till then.
FIELD_SIZE_LIMIT = 64 * 1024
# A row (its text, whatever its line breaks) is refused past this many
# characters, before the csv module splits it: a line of a million commas
# would otherwise become a list of a million cells.
MAX_ROW_CHARS = 4 * FIELD_SIZE_LIMIT
# Column names listed in a message about the header, at most.
LISTED_COLUMNS = 10

# The first bytes of files people upload by mistake, with what to tell them.
SIGNATURES = [
    (
        b"PK\x03\x04",
        "This is an Excel workbook (.xlsx) or another zip file, not a CSV file. "
        "In Excel use File > Save As > CSV UTF-8.",
    ),
    (
        b"\xd0\xcf\x11\xe0",
        "This is an old Excel workbook (.xls), not a CSV file. "
        "In Excel use File > Save As > CSV UTF-8.",
    ),
    (b"%PDF", "This is a PDF document, not a CSV file."),
]
ENCODING_CHOICES = [
    ("", "Detect automatically"),
    ("utf-8", "UTF-8"),
    ("cp1252", "Windows-1252 (Western European)"),
    ("latin-1", "ISO-8859-1 (Latin-1)"),
    ("utf-16", "UTF-16 (Unicode text)"),
]


def check_size(size: int, limit: int) -> None:
    if size > limit:
        raise ImportFileError(
            f"The file is {size / 1_048_576:.1f} MB; files up to "
            f"{limit / 1_048_576:.0f} MB can be imported. Split it into smaller files."
        )


def check_encoding_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ImportFileError(f"Unknown encoding {name!r}.") from None


def detect_encoding(stream: BinaryIO) -> str:
    """The encoding of the whole stream: UTF-8 (with or without BOM), UTF-16 with
    a BOM, else Windows-1252, else Latin-1 (which decodes any byte).

    Refuses binary files: known signatures, and NUL bytes, which no text file
    in a one-byte or UTF-8 encoding contains.
    """
    stream.seek(0)
    head = stream.read(4)
    for signature, message in SIGNATURES:
        if head.startswith(signature):
            raise ImportFileError(message)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    stream.seek(0)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    cp1252 = codecs.getincrementaldecoder("cp1252")()
    utf8_ok = cp1252_ok = True
    while block := stream.read(BLOCK_SIZE):
        if b"\x00" in block:
            raise ImportFileError(
                "This is not a CSV file: it contains binary data (NUL bytes)."
            )
        if utf8_ok:
            try:
                utf8.decode(block)
            except UnicodeDecodeError:
                utf8_ok = False
        if not utf8_ok and cp1252_ok:
            try:
                cp1252.decode(block)
            except UnicodeDecodeError:
                cp1252_ok = False
    if utf8_ok:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
    stream.seek(0)
    if utf8_ok:
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    return "cp1252" if cp1252_ok else "latin-1"


@dataclass(frozen=True)
class Row:
    number: int
    cells: dict[str, str]
    # Set when the row cannot be read as cells of the header's columns.
    error: str | None = None


class CsvSource:
    """A CSV file of one of the import formats, checked and readable again."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        columns: Sequence[str],
        encoding: str | None = None,
        delimiter: str = ",",
    ):
        self.stream = stream
        self.columns = tuple(columns)
        self.delimiter = delimiter
        self.kind = "CSV" if delimiter == "," else "TSV"
        self.encoding = (
            check_encoding_name(encoding) if encoding else detect_encoding(stream)
        )
        self.header = self._read_header()

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        self.stream.seek(0)
        text = io.TextIOWrapper(
            io.BufferedReader(_Unclosable(self.stream)),
            encoding=self.encoding,
            newline="",
        )
        lines = _BoundedLines(text, MAX_ROW_CHARS)
        reader = csv.reader(lines, strict=True, delimiter=self.delimiter)
        number = 0
        old_limit = csv.field_size_limit(FIELD_SIZE_LIMIT)
        try:
            while True:
                number += 1
                lines.start_row()
                try:
                    record = next(reader)
                except StopIteration:
                    return
                except _RowTooLong:
                    raise ImportFileError(
                        f"This row is longer than {MAX_ROW_CHARS:,} characters, "
                        "which no row of this format is (is a closing double quote "
                        "missing?).",
                        row=number,
                    ) from None
                except UnicodeDecodeError:
                    line, byte = self._first_undecodable()
                    raise ImportFileError(
                        f"Line {line} is not valid {self.encoding} text (byte "
                        f"0x{byte:02x}). Choose the file's encoding, or save it as "
                        "CSV UTF-8."
                    ) from None
                except csv.Error as error:
                    if "field limit" in str(error):
                        message = (
                            f"A value in this row is longer than {FIELD_SIZE_LIMIT:,} "
                            "characters (is a closing double quote missing?)."
                        )
                    else:
                        message = f"This row is not valid CSV ({error})."
                    raise ImportFileError(message, row=number) from None
                yield number, record
        finally:
            csv.field_size_limit(old_limit)
            text.detach()

    def _first_undecodable(self) -> tuple[int, int]:
        """The line number and value of the first byte the encoding rejects."""
        self.stream.seek(0)
        decoder = codecs.getincrementaldecoder(self.encoding)()
        lines = 1
        while block := self.stream.read(BLOCK_SIZE):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                # The decoder may hold a few bytes of the previous block.
                start = max(error.start - len(error.object) + len(block), 0)
                return lines + block[:start].count(b"\n"), block[start]
            lines += block.count(b"\n")
        return lines, 0

    def _read_header(self) -> list[str]:
        for _, record in self._records():
            if not _is_blank(record):
                header = [cell.strip().lstrip("\ufeff").lower() for cell in record]
                break
        else:
            raise ImportFileError("The file is empty.")
        if self.delimiter == "," and len(header) == 1 and ";" in header[0]:
            raise ImportFileError(
                "The columns are separated by ';'; separate them with ',' "
                f"(the header must be: {', '.join(self.columns)})."
            )
        return check_header(header, self.columns, kind=self.kind)

    def rows(self) -> Iterator[Row]:
        """Data rows, blank ones skipped, cells trimmed and un-neutralized.

        A row with more cells than the header comes with an error; missing
        trailing cells read as empty (some spreadsheets drop them).
        """
        records = self._records()
        for _, record in records:
            if not _is_blank(record):
                break
        width = len(self.header)
        for number, record in records:
            if _is_blank(record):
                continue
            if len(record) > width and any(cell.strip() for cell in record[width:]):
                yield Row(
                    number,
                    {},
                    error=f"{len(record)} cells but the header has {width} columns "
                    "(a value with a comma must be in double quotes)",
                )
                continue
            cells = {
                name: restore(record[position].strip())
                if position < len(record)
                else ""
                for position, name in enumerate(self.header)
            }
            yield Row(number, cells)


def check_header(header: list[str], columns: Sequence[str], *, kind: str) -> list[str]:
    """The header's column names (trimmed, lower case), or ImportFileError
    saying what is missing, doubled or unknown. `kind` names the file type."""
    expected = ", ".join(columns)
    known = [name for name in header if name in columns]
    if not known:
        raise ImportFileError(
            f"This does not look like the expected {kind} file: its first line "
            f"must be the header {expected}."
        )
    problems = []
    duplicated = sorted({name for name in known if header.count(name) > 1})
    if duplicated:
        problems.append(f"column(s) given twice: {', '.join(duplicated)}")
    missing = [name for name in columns if name not in header]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    unknown = [name for name in header if name not in columns]
    if unknown:
        problems.append(f"unknown column(s): {_listed(unknown)}")
    if problems:
        raise ImportFileError(
            f"Header: {'; '.join(problems)}. The header must be: {expected}.",
            row=1,
        )
    return header


def _listed(names: list[str]) -> str:
    """The first few column names, shortened, and how many more there are."""
    listed = [shown(name) if name else "(blank)" for name in names[:LISTED_COLUMNS]]
    if len(names) > LISTED_COLUMNS:
        listed.append(f"and {len(names) - LISTED_COLUMNS:,} more")
    return ", ".join(listed)


class _RowTooLong(Exception):
    pass


class _BoundedLines:
    """The lines of `text`, refusing a row whose lines add up to more than
    `limit` characters (`start_row` is called before each row is read)."""

    def __init__(self, text, limit: int):
        self._text = text
        self._limit = limit
        self._chars = 0

    def start_row(self) -> None:
        self._chars = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        # readline with a limit never holds more than the limit in memory;
        # a line that long is refused whole, so splitting it does no harm.
        line = self._text.readline(self._limit + 1)
        if not line:
            raise StopIteration
        self._chars += len(line)
        if self._chars > self._limit:
            raise _RowTooLong
        return line


def _is_blank(record: list[str]) -> bool:
    return not any(cell.strip() for cell in record)


class _Unclosable(io.RawIOBase):
    """Lets a TextIOWrapper read a stream without closing it afterwards."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
