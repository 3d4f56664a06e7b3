"""What an undo does and finds: its result, the rows it changes, the
conflicts that refuse it, and the names shared by the planner and the writer."""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model

from ..models import ChangeSet, Department, Doctor, ImportRun, Membership

CHUNK_SIZE = 2000
PREVIEW_ROWS = 200
LISTED_CONFLICTS = 200

# The phases an undo reports progress in (doctors.runs.progress).
CHECKING = "checking"
WRITING = "writing"

MODELS: dict[str, type[Model]] = {
    "membership": Membership,
    "doctor": Doctor,
    "department": Department,
}
DELETE, UPDATE, RECREATE = "delete", "update", "recreate"
ACTION_TEXT = {DELETE: "deleted", UPDATE: "restored", RECREATE: "created again"}


class UndoError(Exception):
    """The run cannot be undone (never imported, nothing written, ...)."""


@dataclass
class RowUndo:
    """One row of the preview: what the undo does to one record."""

    model: str
    id: int
    action: str
    text: str
    # field -> [value now, value after the undo]
    changes: dict[str, list[Any]] = field(default_factory=dict)
    # A membership's doctor and department ids, for naming them.
    refs: tuple[int, int] | None = None


@dataclass
class Conflict:
    """A record the run touched that another change-set changed afterwards."""

    model: str
    id: int
    text: str
    change_set_id: int | None
    reason: str
    refs: tuple[int, int] | None = None

    def __str__(self) -> str:
        by = f" by change-set #{self.change_set_id}" if self.change_set_id else ""
        return f"{self.model} #{self.id} {self.text}: {self.reason}{by}"


@dataclass
class UndoResult:
    run: ImportRun
    target: ChangeSet
    redo: bool
    dry_run: bool
    untouched_only: bool = False
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rows: list[RowUndo] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    conflict_count: int = 0
    problem: str = ""
    change_set: ChangeSet | None = None
    duration: float = 0.0
    # Another undo or redo of the run came first: `problem` says which.
    already_done: bool = False

    @property
    def refused(self) -> bool:
        return bool(self.problem) or (
            self.conflict_count > 0 and not self.untouched_only
        )

    @property
    def verb(self) -> str:
        return "Redid" if self.redo else "Undid"

    @property
    def total(self) -> int:
        return sum(sum(actions.values()) for actions in self.counts.values())

    def counts_text(self) -> str:
        parts = []
        for model, actions in self.counts.items():
            done = ", ".join(
                f"{count} {ACTION_TEXT[action]}" for action, count in actions.items()
            )
            if done:
                parts.append(f"{model}s: {done}")
        return "; ".join(parts) or "nothing to change"

    def summary(self) -> str:
        what = "redo" if self.redo else "undo"
        run = f"import #{self.run.pk} ({self.run.file_name})"
        if self.already_done:
            return self.problem
        if self.problem:
            return f"Cannot {what} {run}: {self.problem}"
        if self.conflict_count and not self.untouched_only:
            noun = "record was" if self.conflict_count == 1 else "records were"
            return (
                f"Cannot {what} {run}: {self.conflict_count} {noun} changed "
                "afterwards by other changes; nothing was changed."
            )
        if self.dry_run:
            return f"The {what} of {run} would change: {self.counts_text()}."
        count = self.conflict_count
        if count == 1:
            skipped = " 1 record changed afterwards was left as it is."
        elif count:
            skipped = f" {count} records changed afterwards were left as they are."
        else:
            skipped = ""
        return f"{self.verb} {run}: {self.counts_text()}.{skipped}"
