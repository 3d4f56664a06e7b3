"""How many rows an upload holds, cheaply: to decide before the preview
whether it runs in the request or in the task worker."""

import io
import zipfile

from ..errors import ImportFileError
from .archive import Archive
from .detect import CSV, JSON, TSV, XLSX, detect_format
from .limits import ReaderLimits

SHEET_PARTS = ("content.xml",)
SHEET_FOLDER = "xl/worksheets/sheet"


def estimate_rows(
    content: bytes,
    file_name: str = "",
    chosen: str = "",
    *,
    limits: ReaderLimits | None = None,
) -> int:
    """An upper bound on the rows of an uploaded file: lines of text, objects
    of JSON, row elements of a sheet (without unpacking cells); 0 for a file
    that cannot be read at all, which the preview then refuses."""
    stream = io.BytesIO(content)
    limits = limits or ReaderLimits()
    try:
        found = detect_format(stream, file_name, chosen, limits=limits)
    except ImportFileError:
        return 0
    if found in (CSV, TSV):
        # Whichever line ending it uses (CR LF, LF or CR).
        return max(content.count(b"\n"), content.count(b"\r"))
    if found == JSON:
        return content.count(b"{")
    marker = b"<row " if found == XLSX else b"<table:table-row"
    count = 0
    try:
        archive = Archive(stream, limits, kind="workbook")
        for name in sorted(archive.names()):
            if name not in SHEET_PARTS and not name.startswith(SHEET_FOLDER):
                continue
            tail = b""
            for block in archive.blocks(name, limits.part_bytes):
                data = tail + block
                count += data.count(marker)
                tail = data[-len(marker) + 1 :]
    except (ImportFileError, zipfile.BadZipFile):
        return 0
    return count
