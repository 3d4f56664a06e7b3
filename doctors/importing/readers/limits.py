"""What a file may hold before it is refused: one place for every reader's limits.

Each default below can be changed in the environment (IMPORT_READER_MAX_ROWS,
IMPORT_READER_MAX_CELL_CHARS, ...: the name in upper case after the prefix),
which clinic/settings.py collects into IMPORT_READER_LIMITS. They are read once
per import by `from_settings` and handed to the readers, which count while they
read and stop at the first limit passed. The defaults are far above what a
real export of doctors or departments holds, and far below what would tie up
a worker.
"""

from dataclasses import dataclass, fields

MB = 1_048_576


@dataclass(frozen=True)
class ReaderLimits:
    # Everything a workbook unpacks to, and one part of it (a sheet's XML,
    # the shared strings); the small parts (workbook, relationships, styles)
    # have their own, lower limit.
    unpacked_bytes: int = 512 * MB
    part_bytes: int = 256 * MB
    small_part_bytes: int = 8 * MB
    # Members of a zip archive, read from its directory before anything else.
    zip_members: int = 10_000
    # XML elements in one part, and how deep they may nest.
    xml_elements: int = 20_000_000
    xml_depth: int = 64
    # Shared strings of a workbook: how many, and their characters in all.
    shared_strings: int = 1_000_000
    shared_string_chars: int = 64 * MB
    # Cell styles (cellXfs) and number formats of a workbook's styles part.
    styles: int = 65_000
    # Cells in one row, counting every cell element, blank or not; rows of a
    # sheet after an .ods file's repeats (blank rows do not count).
    columns: int = 16_384
    rows: int = 1_048_576
    # A row an .ods file says to repeat, when it holds values.
    repeated_rows: int = 1_000
    # Characters of one cell's text, after repeated spaces are expanded (the
    # most a spreadsheet cell holds), and of one JSON object.
    cell_chars: int = 32_767
    json_object_chars: int = 4 * MB
    # Characters of a number as written in the file (digits, sign, point,
    # exponent), and the largest power of ten a number may have.
    number_chars: int = 40
    number_exponent: int = 30
    # What the reading process may hand back: the rows' text, in all.
    output_bytes: int = 512 * MB


PREFIX = "IMPORT_READER_MAX_"


def from_settings() -> ReaderLimits:
    """The limits as configured: settings.IMPORT_READER_LIMITS (filled from
    IMPORT_READER_MAX_<NAME> in the environment) over the defaults above."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    overrides = getattr(settings, "IMPORT_READER_LIMITS", {})
    known = {field.name for field in fields(ReaderLimits)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown import reader limit(s): {', '.join(unknown)}; known: "
            f"{', '.join(sorted(known))}."
        )
    return ReaderLimits(**overrides)
