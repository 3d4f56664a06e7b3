"""Undoing an import run (and redoing it, by undoing the undo).

An undo reverses one change-set from the history tables: every doctor,
department and membership the change-set wrote a history row for gets the
state its history had just before the change-set. Rows the change-set created
are deleted, rows it deleted are created again with the same ids, every field
it changed gets its previous value. The undo is itself one change-set (with an
`undoes` link), so undoing it redoes the import (doctors.undo.chain).

A row that another change-set changed after the one being undone is a
conflict: the undo is refused and lists those rows, and nothing changes,
unless the caller asks to undo only the untouched rows.

Like the importer, this is a bulk path: pass 1 (planner.py) reads the history
per chunk of ids, finds the conflicts and spools the planned writes; pass 2
(writer.py) writes them with prepared statements, with their history rows in
bulk, then one feed event and one cache bump. Memory stays flat: one chunk of
history rows plus the ids of the memberships being deleted.

This is the engine. Who may undo, the status row of an undo, whether it runs
here or in the worker, and what a second submission is told belong to the
run service, doctors.runs.undos.
"""

import time

from django.db import IntegrityError, transaction

from .. import activity, context, dashboard
from ..integrity import explain_integrity_error
from ..models import ActivityEvent, ImportRun
from ..runs.locks import lock_tables
from ..runs.progress import Progress, ignore
from ..runs.spool import Spool
from .chain import already_reversed, chain_end, is_undone
from .planner import Planner
from .results import (
    ACTION_TEXT,
    CHECKING,
    MODELS,
    WRITING,
    Conflict,
    RowUndo,
    UndoError,
    UndoResult,
)
from .writer import Writer

# What a run's feed event is about, by the kind of its import.
TARGET_TYPES = {
    ImportRun.Kind.DOCTORS: "doctor",
    ImportRun.Kind.DEPARTMENTS: "department",
    ImportRun.Kind.MEMBERSHIPS: "membership",
}

__all__ = [
    "ACTION_TEXT",
    "CHECKING",
    "WRITING",
    "Conflict",
    "RowUndo",
    "UndoError",
    "UndoResult",
    "chain_end",
    "is_undone",
    "preview_undo",
    "undo_import",
]


def preview_undo(run: ImportRun, *, untouched_only: bool = False) -> UndoResult:
    """What an undo (or redo) of `run` would do, writing nothing."""
    target, redo = chain_end(run)
    result = UndoResult(
        run=run,
        target=target,
        redo=redo,
        dry_run=True,
        untouched_only=untouched_only,
    )
    with Spool() as spool:
        Planner(result, spool, ignore).plan()
    return result


def undo_import(
    run: ImportRun,
    *,
    user=None,
    source: str = ActivityEvent.Source.ADMIN,
    untouched_only: bool = False,
    reason: str = "",
    progress: Progress | None = None,
    reverses: int | None = None,
) -> UndoResult:
    """Undo `run` (or redo it, when it is undone) as one new change-set.

    Refused, writing nothing, when a record it touched was changed afterwards,
    unless `untouched_only`: then those records are left as they are.
    `reverses` is the change-set the user was shown as the one the undo
    reverses: when another undo or redo of the run came first, nothing is
    done and the result says what already happened.
    """
    started = time.perf_counter()
    report = progress or ignore
    actor = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        # One undo of a run at a time: the second waits, then sees the first.
        run = ImportRun.objects.select_for_update().get(pk=run.pk)
        target, redo = chain_end(run)
        result = UndoResult(
            run=run,
            target=target,
            redo=redo,
            dry_run=False,
            untouched_only=untouched_only,
        )
        if reverses is not None and target.pk != reverses:
            result.problem = already_reversed(run, reverses)
            result.already_done = True
            result.duration = time.perf_counter() - started
            return result
        verb = "Redid" if redo else "Undid"
        with context.acting_as(
            actor,
            source=source,
            description=f"{verb} import #{run.pk} ({run.file_name})",
            reason=reason,
            undoes=target,
        ) as change:
            # Keep other writers out while the undo checks and writes.
            lock_tables(tuple(MODELS.values()))
            with Spool() as spool:
                planner = Planner(result, spool, report)
                planner.plan()
                if not result.refused and result.total:
                    try:
                        with transaction.atomic():
                            Writer(spool, planner, report).write()
                    except IntegrityError as error:
                        result.problem = (
                            "restoring the rows would break a rule of the data "
                            f"({explain_integrity_error(error)}); nothing was "
                            "changed. Records changed afterwards probably depend "
                            "on rows this undo restores."
                        )
                    else:
                        _record(run, result, verb)
        if not result.refused and result.total:
            result.change_set = change.change_set
    result.duration = time.perf_counter() - started
    report("done", result.total, result.total)
    return result


def _record(run: ImportRun, result: UndoResult, verb: str) -> None:
    """The undo's one feed event, with its counts."""
    dashboard.bump_generation_on_commit()
    activity.record_bulk(
        verb=ActivityEvent.Verb.UNDONE,
        target_type=TARGET_TYPES.get(run.kind, "department"),
        description=f"{verb} import #{run.pk}",
        counts={
            "import_run": run.pk,
            "file": run.file_name,
            "undoes": result.target.pk,
            **{
                f"{model}s {ACTION_TEXT[action]}": count
                for model, actions in result.counts.items()
                for action, count in actions.items()
            },
        },
    )
