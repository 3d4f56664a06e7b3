"""Rules on single values: on the model (so in every admin form) and in the importer."""

import datetime
import re
import unicodedata
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.formats import date_format

# C0 and C1 control characters (line breaks, tabs, NUL, ...) and the Unicode
# line and paragraph separators: none belongs in a name, code, email or phone,
# and each breaks the places these values go (email headers, log lines, CSV).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
NAMES = {"\n": "a line break", "\r": "a line break", "\t": "a tab", "\x00": "NUL"}
# Format characters (Unicode category Cf) are invisible: bidirectional
# overrides and isolates reverse how a name reads in every list and export,
# zero-width spaces and the byte-order mark make two equal-looking names differ.
FORMAT_NAMES = {
    "\u200b": "a zero-width space",
    "\u200c": "a zero-width non-joiner",
    "\u200d": "a zero-width joiner",
    "\u200e": "a left-to-right mark",
    "\u200f": "a right-to-left mark",
    "\u202a": "a left-to-right embedding",
    "\u202b": "a right-to-left embedding",
    "\u202c": "a pop directional formatting",
    "\u202d": "a left-to-right override",
    "\u202e": "a right-to-left override",
    "\u2066": "a left-to-right isolate",
    "\u2067": "a right-to-left isolate",
    "\u2068": "a first strong isolate",
    "\u2069": "a pop directional isolate",
    "\ufeff": "a byte-order mark (zero-width no-break space)",
}


class Refused(NamedTuple):
    position: int  # from 0
    character: str


def _first_refused(text: str) -> Refused | None:
    """The first control or format character of `text`, if any."""
    match = CONTROL_CHARACTERS.search(text)
    end = match.start() if match else len(text)
    for position, character in enumerate(text[:end]):
        if unicodedata.category(character) == "Cf":
            return Refused(position, character)
    return Refused(match.start(), match.group()) if match else None


def _character_name(character: str) -> str:
    if character in NAMES:
        return NAMES[character]
    if character in FORMAT_NAMES:
        return f"{FORMAT_NAMES[character]} (U+{ord(character):04X})"
    if unicodedata.category(character) == "Cf":
        return f"the invisible format character U+{ord(character):04X}"
    return f"the control character U+{ord(character):04X}"


@deconstructible
class SingleLineValidator:
    """Refuses a value holding a control or an invisible format character;
    says which one and where."""

    code = "control_character"

    def __call__(self, value) -> None:
        found = _first_refused(str(value))
        if found is None:
            return
        raise ValidationError(
            "Must be on one line without control characters: found %(name)s at "
            "character %(position)d.",
            code=self.code,
            params={
                "name": _character_name(found.character),
                "position": found.position + 1,
            },
        )

    def __eq__(self, other) -> bool:
        return isinstance(other, SingleLineValidator)

    def __hash__(self) -> int:
        return hash(SingleLineValidator)


validate_single_line = SingleLineValidator()


class DateRange(NamedTuple):
    earliest: datetime.date
    latest: datetime.date


def date_range() -> DateRange:
    """The dates the clinic accepts: CLINIC_EARLIEST_DATE to CLINIC_LATEST_DATE."""
    return DateRange(settings.CLINIC_EARLIEST_DATE, settings.CLINIC_LATEST_DATE)


def date_range_problem(value: datetime.date) -> str | None:
    """Why `value` is refused, or None when it is within the clinic's range."""
    earliest, latest = date_range()
    if earliest <= value <= latest:
        return None
    return (
        f"{date_format(value, 'j F Y')} is outside the dates the clinic accepts "
        f"({date_format(earliest, 'j F Y')} to {date_format(latest, 'j F Y')})."
    )


@deconstructible
class DateInRangeValidator:
    """Refuses a date outside the clinic's range (settings
    CLINIC_EARLIEST_DATE and CLINIC_LATEST_DATE)."""

    code = "date_out_of_range"

    def __call__(self, value) -> None:
        problem = date_range_problem(value)
        if problem is not None:
            raise ValidationError(problem, code=self.code)

    def __eq__(self, other) -> bool:
        return isinstance(other, DateInRangeValidator)

    def __hash__(self) -> int:
        return hash(DateInRangeValidator)


validate_date_in_range = DateInRangeValidator()
