"""Progress output for long commands: a bar on a terminal, plain lines otherwise."""

import time

BAR_WIDTH = 30
LINE_EVERY_SECONDS = 5.0


class ProgressReporter:
    """Called as progress(phase, done, total); total is None while unknown.

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
