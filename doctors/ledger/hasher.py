"""Hashing the rows a bulk writer writes down, beside the writer rather than
in its way.

Writing a row down for the chain (ledger.written) costs about 10 µs of
Python per row: its canonical form, two JSON texts, a keyed commitment and a
SHA-256. For a 100,000-row import that is 300,000 history rows, about 3 s of
a 23 s import, all on the writer's one core while the machine's other cores
wait. So once a change-set has written down more than `APART_AFTER` rows,
its later batches are handed to a child process (`python -m
doctors.ledger.hasher`), which hashes them while the writer goes on; the
writer only pickles each batch into a pipe (about 0.5 µs a row). When the
change-set is sealed, the child hands back every batch's entries and ends.

The child is an optimisation, never a dependency: a child that cannot start,
dies, answers late or answers nonsense leaves its batches unhashed, and
sealing reads those rows back as it does for any row not written down. It
imports neither Django nor the models (it starts in about 50 ms), holds the
keys only in memory, and ends when its parent closes the pipe.

`entries_of` is the one function both sides run, in the parent for a small
change-set and in the child for the rest.
"""

import logging
import os
import pickle
import subprocess
import sys
import weakref
from collections.abc import Sequence
from typing import Any

from .. import children
from . import canonical
from .canonical import TABLES, Plan, Table

logger = logging.getLogger(__name__)

# Rows a change-set writes down in the writer's own process before the rest
# are handed to a child: below it the child's start (about 50 ms of CPU)
# costs more than it saves.
APART_AFTER = 4000
# How long sealing waits for the child's answer before reading back instead.
ANSWER_SECONDS = 120
LENGTH_BYTES = 8
# The child's scheduling priority, below the writer's and the database's.
NICENESS = 10

Keys = dict[tuple[str, int], bytes]


def entries_of(
    table: Table, plan: Plan, rows: list[tuple], keys: Keys
) -> dict[int, bytes] | None:
    """The manifest entries of `rows` (written values, as `plan` says) by row
    id; None when a value is not of its column's type (the rows are read back
    instead). A row with personal values under no key in `keys` is left out
    (read back: its key is older than the change-set)."""
    rows = canonical.rows_from_values(plan, rows)
    if rows is None:
        return None
    if table.personal:
        kind, key_index = table.key_kind, table.key_index
        width, end = table.width, table.personal_end
        rows = [
            row
            for row in rows
            if (kind, row[key_index]) in keys or not any(row[width:end])
        ]

    entries = table.entries(rows, _no_commit, keys)
    return dict(zip((row[0] for row in rows), entries, strict=True))


def _no_commit(*args) -> str:
    raise AssertionError("entries_of gives every row's key")


# The parent -----------------------------------------------------------------------


class Hasher:
    """A child process hashing batches: `send` each, then `answers` once."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.sent = 0
        self.failed = False
        # A Hasher dropped without `answers` (its change-set rolled back, an
        # error) still ends its child.
        self._end = weakref.finalize(self, _end_child, process)

    @classmethod
    def start(cls) -> "Hasher | None":
        try:
            process = subprocess.Popen(
                children.command(__name__),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=children.environment(),
                cwd=str(children.ROOT),
            )
        except OSError:
            logger.warning("The history chain's hasher did not start", exc_info=True)
            return None
        return cls(process)

    def send(
        self,
        table: Table,
        plan: Plan,
        rows: Sequence[tuple],
        new_keys: list[tuple[tuple[str, int], bytes]],
    ) -> int | None:
        """Hand a batch to the child; its number for `answers`, or None when
        it could not be sent (the caller hashes it itself)."""
        if self.failed:
            return None
        try:
            data = pickle.dumps(
                ("rows", self.sent, table.tag, plan, rows, new_keys),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        except (pickle.PicklingError, TypeError, AttributeError):
            return None  # a value pickle cannot take: hashed here instead
        try:
            _write(self.process.stdin, data)
        except OSError:
            self._fail("stopped taking batches")
            return None
        self.sent += 1
        return self.sent - 1

    def answers(self) -> dict[int, dict[int, bytes] | None] | None:
        """Every batch's entries (None for a batch it could not hash), once;
        None when the child failed. The child ends."""
        if self.failed:
            return None
        try:
            _write(self.process.stdin, pickle.dumps(("end",)))
            output, errors = self.process.communicate(timeout=ANSWER_SECONDS)
        except subprocess.TimeoutExpired:
            self._fail(f"did not answer in {ANSWER_SECONDS} s")
            return None
        except OSError:
            self._fail("stopped taking batches")
            return None
        finally:
            self._end()
        size = int.from_bytes(output[:LENGTH_BYTES], "little")
        if self.process.returncode != 0 or len(output) != LENGTH_BYTES + size:
            self.failed = True
            logger.warning(
                "The history chain's hasher ended with status %s: %s",
                self.process.returncode,
                errors.decode(errors="replace")[-2000:],
            )
            return None
        answers = pickle.loads(output[LENGTH_BYTES:])
        if not isinstance(answers, dict) or len(answers) != self.sent:
            self.failed = True
            return None
        return answers

    def close(self) -> None:
        self._end()

    def _fail(self, what: str) -> None:
        self.failed = True
        if self.process.poll() is None:
            self.process.kill()
        try:
            errors = self.process.stderr.read(64 * 1024)
        except (OSError, ValueError):
            errors = b""
        self._end()
        logger.warning(
            "The history chain's hasher %s (status %s); its rows are read back: %s",
            what,
            self.process.returncode,
            errors.decode(errors="replace")[-2000:],
        )


def _write(stream, data: bytes) -> None:
    stream.write(len(data).to_bytes(LENGTH_BYTES, "little"))
    stream.write(data)
    stream.flush()


def _end_child(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


# The child ------------------------------------------------------------------------


def _read(stream) -> Any:
    head = stream.read(LENGTH_BYTES)
    if len(head) != LENGTH_BYTES:
        return None
    size = int.from_bytes(head, "little")
    data = stream.read(size)
    if len(data) != size:
        return None
    return pickle.loads(data)


def child_main() -> int:
    # Background work: the writer and the database come first for the cores.
    os.nice(NICENESS)
    source, answer = sys.stdin.buffer, sys.stdout.buffer
    tables = {table.tag: table for table in TABLES}
    keys: Keys = {}
    answers: dict[int, dict[int, bytes] | None] = {}
    while (message := _read(source)) is not None:
        if message[0] == "end":
            _write(answer, pickle.dumps(answers, protocol=pickle.HIGHEST_PROTOCOL))
            return 0
        _, number, tag, plan, rows, new_keys = message
        keys.update(new_keys)
        try:
            answers[number] = entries_of(tables[tag], plan, rows, keys)
        except Exception as error:  # noqa: BLE001 (the parent reads these rows back)
            if sum(answer is None for answer in answers.values()) < 10:
                print(f"batch {number} of {tag}: {error!r}", file=sys.stderr)
            answers[number] = None
    return 1  # the parent went away without asking


if __name__ == "__main__":
    sys.exit(child_main())
