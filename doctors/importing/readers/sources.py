"""The sources the importer reads rows from, whatever the file's format.

Every source offers what parsing.CsvSource offers: `header`, `encoding`,
`file_format` and `rows()`, which yields parsing.Row objects one at a time; a
workbook's or JSON file's source also has `locate`, which names the sheet and
cell (Doctors!B7) or the object a problem is about. CSV and TSV files are read
here, in the importer's process (parsing bounds every row); workbooks and JSON
files are read by table.read_table, in a separate process (sandbox) unless
settings.IMPORT_READER_SANDBOX is off.

A key (license number, department code) that a spreadsheet stored as a number
has lost any leading zeros it had; when the database holds the key with zeros
in front, the row is refused rather than guessed at.
"""

import logging
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from django.conf import settings
from django.db import DatabaseError

from ..errors import ImportFileError
from ..parsing import CsvSource, Row
from ..validation import Problem
from . import limits as reader_limits
from .cells import cell_ref
from .detect import CSV, JSON, TSV, sniff
from .sandbox import READING_FAILED, SandboxLimits, read_table_in_child
from .table import Table, TableRequest, TableRow, read_table

KEY_CHECK_CHUNK = 1000
logger = logging.getLogger(__name__)


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
    """The source that reads `stream` in its format (see detect.sniff).

    `sheet_name` is the sheet to prefer in a workbook; `key_model` the model
    whose key (the first column) a number cell may have lost zeros from.
    ImportFileError when the file cannot be read at all, whatever the reader
    met.
    """
    try:
        return _open_source(
            stream,
            columns=columns,
            file_name=file_name,
            file_format=file_format,
            encoding=encoding,
            sheet_name=sheet_name,
            key_model=key_model,
        )
    except (ImportFileError, DatabaseError):
        raise
    except Exception as error:
        raise _reading_failed(error) from None


def read_rows(source) -> Iterator[Row]:
    """`source.rows()`; a failure of the reader is a refusal, never an error
    page or a run left running (database errors are the importer's own)."""
    try:
        yield from source.rows()
    except (ImportFileError, DatabaseError):
        raise
    except Exception as error:
        raise _reading_failed(error) from None


def _reading_failed(error: Exception) -> ImportFileError:
    if isinstance(error, (MemoryError, RecursionError)):
        return ImportFileError(
            "This file needs more memory than is allowed to read it; nothing was "
            "imported."
        )
    logger.exception("Reading an import file failed")
    return ImportFileError(READING_FAILED)


def _open_source(
    stream: BinaryIO,
    *,
    columns: Sequence[str],
    file_name: str,
    file_format: str | None,
    encoding: str | None,
    sheet_name: str,
    key_model,
):
    found = sniff(stream, file_name, file_format or "")
    if found in (CSV, TSV):
        source = CsvSource(
            stream,
            columns=columns,
            encoding=encoding,
            delimiter="\t" if found == TSV else ",",
        )
        source.file_format = found
        return source
    request = TableRequest(
        columns=tuple(columns),
        file_name=file_name,
        file_format=file_format or "",
        encoding=encoding or "",
        sheet_name=sheet_name,
    )
    return TableSource(read(stream, request), columns=columns, key_model=key_model)


def read(stream: BinaryIO, request: TableRequest) -> Table:
    """The table of a workbook or JSON file, read within the limits."""
    limits = reader_limits.from_settings()
    if not settings.IMPORT_READER_SANDBOX:
        return read_table(stream, request, limits)
    sandbox = SandboxLimits(
        memory_mb=settings.IMPORT_READER_MEMORY_MB,
        cpu_seconds=settings.IMPORT_READER_CPU_SECONDS,
    )
    return read_table_in_child(stream, request, limits, sandbox)


class TableSource:
    """A workbook's sheet or a JSON file's objects as import rows."""

    def __init__(self, table: Table, *, columns: Sequence[str], key_model=None):
        self.table = table
        info = table.info
        self.columns = tuple(columns)
        self.file_format = info.file_format
        self.encoding = info.encoding
        self.header = info.header
        self.sheet = info.sheet
        self.key_model = key_model if info.file_format != JSON else None

    def rows(self) -> Iterator[Row]:
        key = self.columns[0]
        key_position = self.header.index(key)
        waiting: list[TableRow] = []
        for row in self.table.rows():
            if row.key_was_number and self.key_model is not None:
                if row.error is None and row.cells.get(key, "").isdigit():
                    waiting.append(row)
                    if len(waiting) >= KEY_CHECK_CHUNK:
                        yield from self._check_keys(waiting, key, key_position)
                        waiting = []
                    continue
            if waiting:
                yield from self._check_keys(waiting, key, key_position)
                waiting = []
            yield Row(row.number, row.cells, error=row.error)
        yield from self._check_keys(waiting, key, key_position)

    def _check_keys(
        self, waiting: list[TableRow], key: str, key_position: int
    ) -> Iterator[Row]:
        """Rows whose key was a number cell: refused when the database has the
        same number with zeros in front, which the spreadsheet dropped."""
        if not waiting:
            return
        numbers = sorted({row.cells[key] for row in waiting})
        pattern = r"^0+(" + "|".join(numbers) + r")$"
        padded = {}
        for value in self.key_model.objects.filter(
            **{f"{key}__regex": pattern}
        ).values_list(key, flat=True):
            padded.setdefault(value.lstrip("0"), value)
        noun = self.key_model._meta.verbose_name
        for row in waiting:
            text = row.cells[key]
            match = padded.get(text)
            if match is None:
                yield Row(row.number, row.cells)
                continue
            yield Row(
                row.number,
                {},
                error=f"cell {cell_ref(key_position, row.number)} ({key}) holds the "
                f"number {text}, and {noun} {match} exists: the spreadsheet dropped "
                f"the zeros in front. Format the column as Text and type {match}",
            )

    def locate(self, problem: Problem) -> Problem:
        """The problem with the sheet and cell, or the object, it is about."""
        if problem.row is None:
            return problem
        if self.file_format == JSON:
            column = (
                f"{problem.column} (object {problem.row})"
                if problem.column
                else f"object {problem.row}"
            )
        elif problem.column in self.header:
            where = cell_ref(self.header.index(problem.column), problem.row)
            column = f"{problem.column} (cell {self.sheet}!{where})"
        else:
            column = f"sheet {self.sheet}" + (
                f", {problem.column}" if problem.column else ""
            )
        return Problem(problem.row, column, problem.message)
