"""A run's planned writes, kept in a temporary file between its two passes.

Pass 1 checks the rows chunk by chunk and spools what it would write; pass 2
reads the chunks back in order. Memory stays flat whatever the size of the
run: one chunk at a time. Chunks are lists of plain values (marshal's types:
numbers, strings, bytes, tuples, lists, dicts, None); dates travel as text.
"""

import marshal
import tempfile
from collections.abc import Iterator
from typing import Any


class Spool:
    """A temporary file of chunks: `write(chunk)` in pass 1, `chunks()` in
    pass 2 (each call reads them all again from the start)."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc_info) -> None:
        self.file.close()

    def write(self, chunk: Any) -> None:
        marshal.dump(chunk, self.file)

    def chunks(self) -> Iterator[Any]:
        self.file.flush()
        self.file.seek(0)
        while True:
            try:
                yield marshal.load(self.file)
            except EOFError:
                return
