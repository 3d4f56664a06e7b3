"""A zip archive (.xlsx, .ods) read within the limits.

Before zipfile reads the archive's directory, its end record says how many
members there are and how large the directory is: too many is refused then.
The sizes the directory declares are checked against the limits, and every
part is counted again as it is unpacked (a directory can lie).
"""

import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from ..errors import ImportFileError
from .limits import MB, ReaderLimits

BLOCK = 1 << 16
END_RECORD = b"PK\x05\x06"
# The end record (22 bytes) and the longest comment after it.
END_SEARCH = 22 + 65_535
# What zipfile raises for a damaged or unusual archive: a member's name that
# is not UTF-8 (ValueError), an unknown zip version or compression
# (NotImplementedError), encryption (RuntimeError), broken deflate data.
DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    RuntimeError,
    NotImplementedError,
)
# A directory entry's fixed part (46 bytes) and a generous name.
DIRECTORY_ENTRY_BYTES = 46 + 512


class Archive:
    """The members of a zip archive, each unpacked as a stream of blocks."""

    def __init__(self, stream: BinaryIO, limits: ReaderLimits, *, kind: str):
        self.limits = limits
        self.kind = kind
        self.unpacked = 0
        self._check_directory(stream)
        stream.seek(0)
        try:
            self.zip = zipfile.ZipFile(stream)
            infos = self.zip.infolist()
        except DAMAGED:
            raise ImportFileError(
                f"This {kind} is damaged or incomplete and cannot be opened."
            ) from None
        self.sizes = {info.filename: info.file_size for info in infos}
        total = sum(self.sizes.values())
        if total > limits.unpacked_bytes:
            raise ImportFileError(
                f"This {kind} unpacks to {total / MB:.0f} MB; at most "
                f"{limits.unpacked_bytes // MB} MB can be imported. Split it."
            )

    def _check_directory(self, stream: BinaryIO) -> None:
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(max(0, size - END_SEARCH))
        tail = stream.read()
        at = tail.rfind(END_RECORD)
        if at < 0 or len(tail) < at + 22:
            raise ImportFileError(
                f"This {self.kind} is damaged or incomplete and cannot be opened."
            )
        members = int.from_bytes(tail[at + 10 : at + 12], "little")
        directory = int.from_bytes(tail[at + 12 : at + 16], "little")
        if (
            members > self.limits.zip_members
            or directory > self.limits.zip_members * DIRECTORY_ENTRY_BYTES
        ):
            raise ImportFileError(
                f"This {self.kind} has more than {self.limits.zip_members:,} "
                "parts; no spreadsheet has that many."
            )

    def names(self) -> set[str]:
        return set(self.sizes)

    def blocks(self, name: str, max_bytes: int) -> Iterator[bytes]:
        """The unpacked bytes of member `name`, counted against `max_bytes`
        and the archive's total."""
        if name not in self.sizes:
            raise ImportFileError(
                f"This {self.kind} has no part {name}; it is damaged."
            )
        read = 0
        try:
            with self.zip.open(name) as member:
                while block := member.read(BLOCK):
                    read += len(block)
                    self.unpacked += len(block)
                    if read > max_bytes:
                        raise ImportFileError(
                            f"Part {name} unpacks to more than "
                            f"{_size(max_bytes)}; that is more than can be imported."
                        )
                    if self.unpacked > self.limits.unpacked_bytes:
                        raise ImportFileError(
                            f"This {self.kind} unpacks to more than "
                            f"{self.limits.unpacked_bytes // MB} MB; at most "
                            "that can be imported. Split it."
                        )
                    yield block
        except DAMAGED as error:
            raise ImportFileError(
                f"Part {name} cannot be unpacked: the file is damaged "
                f"({type(error).__name__}). Open it in the spreadsheet program "
                "and save it again."
            ) from None

    def read_small(self, name: str, max_bytes: int) -> bytes:
        return b"".join(self.blocks(name, max_bytes))

    def close(self) -> None:
        self.zip.close()


def _size(count: int) -> str:
    return f"{count // MB:,} MB" if count >= MB else f"{count:,} bytes"
