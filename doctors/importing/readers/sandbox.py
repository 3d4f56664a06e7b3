"""Reading an untrusted file in a separate process, with its memory and CPU
time limited, so that a file (or a reader's bug) costs a refusal, never the
web worker or the task worker.

The importer starts `python -m doctors.importing.readers.sandbox`, hands it
the request on its standard input (JSON) and the file by path, and waits. The
child limits its own address space (RLIMIT_AS) and CPU time (RLIMIT_CPU),
reads the file with table.read_table and writes what it read to a spool file:
the table's header, then its rows in chunks, then an end mark, or a refusal
(marshal records, each after its length: marshal.load on a file would read it
in many small pieces). The parent reads the spool as the rows are needed. A
child that ends without the end mark (killed at a limit, out of memory,
crashed) is a refusal that says the file needs more than is allowed to read it.

The child imports neither Django nor the models: it starts in about a tenth
of a second.
"""

import dataclasses
import json
import logging
import marshal
import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from ... import children
from ..errors import ImportFileError
from .limits import MB, ReaderLimits
from .table import Table, TableInfo, TableRequest, TableRow

logger = logging.getLogger(__name__)

# Bytes of the length in front of each record of the spool.
LENGTH_BYTES = 8
# Rows per marshal record of the spool.
CHUNK_ROWS = 2000
# The child's exit status when it ran out of memory (0 when its spool says
# how it went; any other status is a failure).
OUT_OF_MEMORY = 3
READING_FAILED = (
    "This file cannot be read: reading it failed unexpectedly; nothing was "
    "imported. Save it again from the spreadsheet program, or export it as CSV."
)
NEEDS_MORE = (
    "This file needs more {what} than is allowed to read it ({limit}); nothing "
    "was imported. Split it, or save it again from the spreadsheet program."
)


class SandboxLimits(NamedTuple):
    memory_mb: int
    cpu_seconds: int


# The parent ---------------------------------------------------------------------


def read_table_in_child(
    stream: BinaryIO,
    request: TableRequest,
    limits: ReaderLimits,
    sandbox: SandboxLimits,
) -> Table:
    """The table of `stream`, read in a child process; ImportFileError for
    a refusal, whatever the child met."""
    spool = tempfile.NamedTemporaryFile(prefix="import-read-", suffix=".spool")
    source_path, temporary = _file_path(stream)
    try:
        _run_child(source_path, spool.name, request, limits, sandbox)
        return _spooled_table(spool)
    except BaseException:
        spool.close()
        raise
    finally:
        if temporary:
            os.unlink(source_path)


class _SourceFile(NamedTuple):
    path: str
    temporary: bool  # a copy, removed once read


def _file_path(stream: BinaryIO) -> _SourceFile:
    """A path the child can open: the stream's own file, else a copy."""
    name = getattr(stream, "name", None)
    if isinstance(name, str) and os.path.isfile(name):
        return _SourceFile(name, temporary=False)
    stream.seek(0)
    with tempfile.NamedTemporaryFile(prefix="import-file-", delete=False) as copy:
        while block := stream.read(1 << 20):
            copy.write(block)
    stream.seek(0)
    return _SourceFile(copy.name, temporary=True)


def _run_child(
    source_path: str,
    spool_path: str,
    request: TableRequest,
    limits: ReaderLimits,
    sandbox: SandboxLimits,
) -> None:
    order = json.dumps(
        {
            "source": source_path,
            "spool": spool_path,
            "request": request._asdict(),
            "limits": dataclasses.asdict(limits),
            "memory_mb": sandbox.memory_mb,
            "cpu_seconds": sandbox.cpu_seconds,
        }
    )
    try:
        child = subprocess.run(
            children.command(__name__),
            input=order.encode(),
            capture_output=True,
            env=children.environment(),
            cwd=str(children.ROOT),
            # CPU time is limited in the child; this bounds a child that waits.
            timeout=2 * sandbox.cpu_seconds + 30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _needs_more("time", sandbox) from None
    if child.returncode == 0:
        return
    if child.returncode == OUT_OF_MEMORY or child.returncode == -signal.SIGSEGV:
        raise _needs_more("memory", sandbox)
    if child.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise _needs_more("time", sandbox)
    logger.error(
        "The import reader ended with status %s: %s",
        child.returncode,
        child.stderr.decode(errors="replace")[-4000:],
    )
    raise ImportFileError(READING_FAILED)


def _needs_more(what: str, sandbox: SandboxLimits) -> ImportFileError:
    limit = (
        f"{sandbox.memory_mb} MB" if what == "memory" else f"{sandbox.cpu_seconds} s"
    )
    return ImportFileError(NEEDS_MORE.format(what=what, limit=limit))


def _spooled_table(spool) -> Table:
    spool.seek(0)
    first = _load(spool)
    if first is None or first[0] == "end":
        raise ImportFileError("This file cannot be read; nothing was imported.")
    if first[0] == "refused":
        _log_peak(first[3])
        raise ImportFileError(first[1], row=first[2])
    info = TableInfo(*first[1])
    start = spool.tell()

    def rows() -> Iterator[TableRow]:
        spool.seek(start)
        while True:
            record = _load(spool)
            if record is None:
                raise ImportFileError("This file cannot be read; nothing was imported.")
            if record[0] == "end":
                _log_peak(record[1])
                spool.close()
                return
            if record[0] == "refused":
                raise ImportFileError(record[1], row=record[2])
            for values in record[1]:
                yield TableRow(*values)

    return Table(info, rows)


def _log_peak(peak_kb: int) -> None:
    """The reading process's peak memory, for operators and the benchmarks."""
    logger.debug(
        "The import file's reading process peaked at %.1f MB",
        peak_kb / 1024,
        extra={"reader_peak_mb": round(peak_kb / 1024, 1)},
    )


def _load(spool):
    try:
        size = int.from_bytes(spool.read(LENGTH_BYTES), "little")
        return marshal.loads(spool.read(size)) if size else None
    except (EOFError, ValueError, TypeError):
        return None


# The child ------------------------------------------------------------------------


def _limit_self(memory_mb: int, cpu_seconds: int) -> None:
    memory = memory_mb * MB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


class _Spool:
    def __init__(self, stream, limit: int):
        self.stream = stream
        self.limit = limit

    def write(self, record) -> None:
        write_record(self.stream, record)
        if self.stream.tell() > self.limit:
            raise ImportFileError(
                f"This file holds more than {self.limit // MB} MB of text; that "
                "is more than can be imported."
            )


def _peak_kb() -> int:
    """This process's peak resident memory (VmHWM), in kB; 0 if unknown."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def write_record(stream, record) -> None:
    data = marshal.dumps(record)
    stream.write(len(data).to_bytes(LENGTH_BYTES, "little"))
    stream.write(data)


def child_main() -> int:
    order = json.loads(sys.stdin.buffer.read())
    _limit_self(order["memory_mb"], order["cpu_seconds"])
    from .table import read_table

    limits = ReaderLimits(**order["limits"])
    request = TableRequest(**order["request"])
    request = request._replace(columns=tuple(request.columns))
    with open(order["spool"], "wb") as output, open(order["source"], "rb") as source:
        spool = _Spool(output, limits.output_bytes)
        try:
            table = read_table(source, request, limits)
            spool.write(("table", tuple(table.info)))
            chunk = []
            for row in table.rows():
                chunk.append(tuple(row))
                if len(chunk) >= CHUNK_ROWS:
                    spool.write(("rows", chunk))
                    chunk = []
            spool.write(("rows", chunk))
            spool.write(("end", _peak_kb()))
        except ImportFileError as error:
            output.seek(0)
            output.truncate()
            write_record(output, ("refused", error.message, error.row, _peak_kb()))
        except MemoryError:
            return OUT_OF_MEMORY
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
