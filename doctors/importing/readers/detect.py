"""Which format an uploaded file is: from its content where that is certain
(a zip archive, an old Excel file), else the format chosen, else the file
name, else a look at its first characters."""

import codecs
import os
from typing import BinaryIO

from ..errors import ImportFileError
from .archive import Archive
from .limits import ReaderLimits

CSV, TSV, XLSX, ODS, JSON = "csv", "tsv", "xlsx", "ods", "json"
# A zip archive: .xlsx or .ods, which only a look inside tells apart.
WORKBOOK = "workbook"
FILE_FORMAT_CHOICES = [
    ("", "Detect automatically"),
    (CSV, "CSV (comma-separated)"),
    (TSV, "TSV (tab-separated)"),
    (XLSX, "Excel workbook (.xlsx)"),
    (ODS, "OpenDocument spreadsheet (.ods)"),
    (JSON, "JSON (a list of objects)"),
]
FILE_FORMAT_NAMES = dict(FILE_FORMAT_CHOICES)
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


def format_from_name(file_name: str) -> str | None:
    return EXTENSIONS.get(os.path.splitext(file_name or "")[1].lower())


def sniff(stream: BinaryIO, file_name: str = "", chosen: str = "") -> str:
    """CSV, TSV or JSON, or WORKBOOK for any zip archive, from the first
    bytes only. ImportFileError for an old Excel file, or a workbook chosen
    or named that is no zip archive."""
    stream.seek(0)
    head = stream.read(8)
    stream.seek(0)
    if head.startswith(ZIP_SIGNATURE):
        return WORKBOOK
    if head.startswith(OLE_SIGNATURE):
        raise ImportFileError(
            "This is an old Excel workbook (.xls), which cannot be imported. "
            "In Excel use File > Save As > Excel Workbook (.xlsx)."
        )
    expected = chosen or format_from_name(file_name)
    if expected in (XLSX, ODS):
        raise ImportFileError(
            f"This file is not an {FILE_FORMAT_NAMES[expected]}: it is not a zip "
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


def detect_format(
    stream: BinaryIO,
    file_name: str = "",
    chosen: str = "",
    *,
    limits: ReaderLimits | None = None,
) -> str:
    """The file's format (see sniff; a zip archive is looked into).
    ImportFileError when the content contradicts the choice."""
    found = sniff(stream, file_name, chosen)
    if found != WORKBOOK:
        return found
    archive = Archive(
        stream, limits or ReaderLimits(), kind="Excel workbook (.xlsx) or zip file"
    )
    found = workbook_format(archive)
    stream.seek(0)
    if chosen and chosen != found:
        raise ImportFileError(
            f"You chose {FILE_FORMAT_NAMES[chosen]}, but this file is an "
            f"{FILE_FORMAT_NAMES[found]}."
        )
    return found


def workbook_format(archive: Archive) -> str:
    names = archive.names()
    if "xl/workbook.xml" in names:
        return XLSX
    if "mimetype" in names and archive.read_small("mimetype", 1024).startswith(
        ODS_MIMETYPE
    ):
        return ODS
    raise ImportFileError(
        "This is a zip file, but neither an Excel workbook (.xlsx) nor an "
        "OpenDocument spreadsheet (.ods)."
    )
