"""How far a run has got: the one place progress is reported and read.

A run reports progress as `report(phase, done, total)`; total is None while
unknown. Two readers:

- the admin's progress page, for a run in the worker (import, undo, redo):
  `reporter(kind, run_id)` stores the latest numbers in the shared cache and
  `read(kind, run_id)` reads them. A run writes in one long transaction, so
  its numbers cannot go through the database (nobody would see them before
  the commit); the run's status lives on its status row in the database, and
  when Redis is unreachable the page shows that status without numbers;
- a command on a terminal or in a log: `TerminalProgress`.
"""

import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

# progress(phase, done, total)
Progress = Callable[[str, int, int | None], None]

TIMEOUT_SECONDS = 24 * 3600
EVERY_ROWS = 1000
IMPORT = "import"
UNDO = "undo"


def ignore(phase: str, done: int, total: int | None) -> None:
    """A progress callback for runs nobody watches."""


def _key(kind: str, run_id: int) -> str:
    return f"{kind}-progress:{run_id}"


def read(kind: str, run_id: int) -> dict[str, Any]:
    """The latest numbers of a run in the worker: phase, done, total ({} when
    none were stored or the cache is unreachable)."""
    return cache.get(_key(kind, run_id)) or {}


def reporter(kind: str, run_id: int) -> Progress:
    """A progress callback that stores the latest numbers every EVERY_ROWS
    rows and at the end of each phase."""

    def report(phase: str, done: int, total: int | None) -> None:
        finished = total is not None and done >= total
        if done % EVERY_ROWS == 0 or finished:
            cache.set(
                _key(kind, run_id),
                {"phase": phase, "done": done, "total": total},
                timeout=TIMEOUT_SECONDS,
            )

    return report


BAR_WIDTH = 30
LINE_EVERY_SECONDS = 5.0


class TerminalProgress:
    """Progress for commands: a bar on a terminal, plain lines otherwise.

    On a terminal one line is redrawn in place; in a log (not a terminal) a plain
    line is written when a phase starts and ends and at most every few seconds.
    """

    def __init__(self, stream, *, interactive: bool | None = None):
        self.stream = stream
        self.interactive = stream.isatty() if interactive is None else interactive
        self.phase = None
        self.last_line = 0.0
        self.drawn = False

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        finished = total is not None and done >= total
        if self.interactive:
            self._draw(phase, done, total, finished)
            return
        now = time.monotonic()
        if (
            phase != self.phase
            or finished
            or now - self.last_line >= LINE_EVERY_SECONDS
        ):
            self.stream.write(f"{phase.capitalize()}: {_count(done, total)}")
            self.last_line = now
        self.phase = phase

    def _draw(self, phase, done, total, finished) -> None:
        if phase != self.phase and self.drawn:
            self.stream.write("\n")
        self.phase = phase
        if total:
            filled = int(BAR_WIDTH * done / total)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            text = f"\r{phase.capitalize():9} [{bar}] {_count(done, total)}"
        else:
            text = f"\r{phase.capitalize():9} {_count(done, total)}"
        self.stream.write(text, ending="")
        self.stream.flush()
        self.drawn = True
        if finished:
            self.stream.write("")
            self.drawn = False

    def close(self) -> None:
        if self.interactive and self.drawn:
            self.stream.write("")
            self.drawn = False


def _count(done: int, total: int | None) -> str:
    if total is None:
        return f"{done:,} rows"
    percent = f" ({100 * done // total}%)" if total else ""
    return f"{done:,} / {total:,} rows{percent}"
