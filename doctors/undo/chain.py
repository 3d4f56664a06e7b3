"""The chain of an import run: its import, the undo, the undo of the undo, ...

Each undo is a change-set that reverses the one before it (ChangeSet.undoes);
the end of the chain is what an undo of the run reverses now.
"""

from ..models import ChangeSet, ImportRun
from ..runs.status import moment_text
from .results import UndoError


def chain_end(run: ImportRun) -> tuple[ChangeSet, bool]:
    """The change-set an undo of `run` reverses now, and whether that is a redo
    (the import is currently undone)."""
    if run.change_set_id is None:
        raise UndoError(
            "this run wrote nothing that can be undone (only a confirmed import "
            "that changed data can be)."
        )
    target = run.change_set
    depth = 0
    while True:
        later = target.undone_by.order_by("-pk").first()
        if later is None:
            return target, depth % 2 == 1
        target = later
        depth += 1


def is_undone(run: ImportRun) -> bool:
    return run.change_set_id is not None and chain_end(run)[1]


def already_reversed(run: ImportRun, shown_id: int) -> str:
    """What happened to `run` since the user was shown an undo (or redo) of
    change-set `shown_id`: "Import #4 was already undone by admin at 14:02"."""
    later = (
        ChangeSet.objects.filter(undoes_id=shown_id)
        .select_related("undoes")
        .order_by("pk")
        .first()
    )
    if later is None:
        return (
            f"Import #{run.pk} changed since this page was shown; "
            "nothing was done. Check the new preview."
        )
    verb = "redone" if later.undoes.undoes_id else "undone"
    who = later.actor_name or "a command or task"
    return (
        f"Import #{run.pk} was already {verb} by {who} at "
        f"{moment_text(later.started_at)}; nothing more was done."
    )
