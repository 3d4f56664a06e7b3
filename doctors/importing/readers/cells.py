"""A cell's value as the text a person sees in it, and problems named by cell.

The number 123 comes in as "123", 5551234.0 as "5551234", TRUE as "true", a
date as 2026-01-31. A number is read only when it is short (digits, sign,
point and exponent within `number_chars`) and its power of ten is within
`number_exponent`: "1E+200000000" is refused, never expanded.
"""

import datetime
import math
import re
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from ..errors import ImportFileError
from .limits import ReaderLimits


class Cell(NamedTuple):
    """A cell read from a sheet: its text, and whether it was a plain number
    (a key stored as a number may have lost zeros in front)."""

    text: str
    was_number: bool = False


BLANK = Cell("")


class SheetRow(NamedTuple):
    """A sheet's row that has cells: its number as the sheet shows it."""

    number: int
    cells: list[Cell]


class CellError(ImportFileError):
    """A cell that cannot be read as a value (#N/A, part of a merge, a number
    too long); the message names the sheet and cell."""


def column_letters(column: int) -> str:
    """The letters of a 0-based column number: 0 -> A, 26 -> AA."""
    letters = ""
    column += 1
    while column:
        column, remainder = divmod(column - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def cell_ref(column: int, row: int) -> str:
    """Spreadsheet notation of 0-based `column` and `row` number: B7."""
    return f"{column_letters(column)}{row}"


def cell_error(sheet: str, column: int, row: int, message: str) -> CellError:
    return CellError(f"Sheet {sheet}: cell {cell_ref(column, row)} {message}.", row=row)


def parse_number(text: str, limits: ReaderLimits) -> int | float | Decimal | None:
    """The number `text` writes (an int when whole and written without a point
    or exponent), or None when it is no number or out of bounds."""
    text = text.strip()
    if not text or len(text) > limits.number_chars:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if number and abs(number.adjusted()) > limits.number_exponent:
        return None
    return number


def number_text(value: int | float | Decimal, shown: str = "") -> str:
    """A number as a person reads it: no ".0", no exponent; `shown` is the
    text the spreadsheet displays, kept when it is the same whole number with
    zeros in front (a cell formatted 00000). Callers bound the number first
    (parse_number): its digits are written out in full."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        if value.is_integer() and abs(value) < 1e16:
            value = int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, int):
        text = str(value)
        if (
            shown.isdigit()
            and len(shown) > len(text)
            and (shown.lstrip("0") or "0") == text
        ):
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


def pick_sheet(names: list[str], preferred: str) -> str:
    """The sheet named `preferred` (any case), else the first."""
    for name in names:
        if name.strip().lower() == preferred.lower():
            return name
    return names[0]
