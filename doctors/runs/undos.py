"""The life of an undo (or redo) of an import run, in one place.

    preview   -> a status row (Run, "previewed") records the change-set the
                 user is shown as the one the undo reverses;
    confirm   -> claimed once (previewed -> running, or queued for the worker
                 when the import is large): a second submission of the same
                 page does nothing and is told what became of the first;
    run       -> under a lock on the import run, and only if the run's undo
                 chain still ends at the change-set shown: an undo confirmed
                 from another page first is reported ("Import #4 was already
                 undone by admin at 14:02"), never undone again or redone;
    outcome   -> on the status row; a background run's outcome is shown to
                 its user once, on their next visit to the undo page.

The engine (what an undo writes) is doctors.undo. Who may undo: access.py;
here or in the worker: placement.py.
"""

import logging
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from .. import undo
from ..models import ActivityEvent, Doctor, ImportRun, Run
from . import access, placement, progress
from .status import ACTIVE, OUT_OF_DATE, attempt_shown, claim, describe, finish

logger = logging.getLogger(__name__)

# What the pages and the command show of the engine's results.
ACTION_TEXT = undo.ACTION_TEXT
UndoError = undo.UndoError
chain_end = undo.chain_end
is_undone = undo.is_undone


@dataclass(frozen=True)
class UndoOutcome:
    """What became of a confirm: `result` when it ran here, `queued` when the
    worker has it; `refusal` says why nothing was done (a refused undo's
    result is kept, to show its conflicts again)."""

    attempt: Run | None
    result: undo.UndoResult | None = None
    queued: bool = False
    refusal: str = ""
    # The page was confirmed before, or another undo of the run came first:
    # `refusal` says what happened.
    already_done: bool = False


def title(run: ImportRun, *, redo: bool) -> str:
    return f"{'redo' if redo else 'undo'} of import #{run.pk} ({run.file_name})"


def in_background(run: ImportRun) -> bool:
    return placement.in_background(run.total_rows)


def active(run: ImportRun) -> Run | None:
    """The undo or redo of `run` queued or running in the worker, if any."""
    return run.undo_runs.filter(status__in=ACTIVE).order_by("-pk").first()


def preview(run: ImportRun, *, untouched_only: bool = False) -> undo.UndoResult:
    """What an undo (or redo) of `run` would do, writing nothing (the
    command's dry run: no page, so no status row)."""
    return undo.preview_undo(run, untouched_only=untouched_only)


def prepare(
    run: ImportRun, user, *, untouched_only: bool = False
) -> tuple[Run, undo.UndoResult]:
    """What an undo (or redo) of `run` would do, and the status row that a
    confirm of this preview claims. UndoError when the run wrote nothing."""
    if not access.may_undo(user, run):
        raise PermissionDenied
    preview = undo.preview_undo(run, untouched_only=untouched_only)
    attempt = Run.objects.create(
        kind=Run.Kind.REDO if preview.redo else Run.Kind.UNDO,
        title=title(run, redo=preview.redo),
        user=user,
        import_run=run,
        reverses=preview.target,
    )
    return attempt, preview


def confirm(
    run: ImportRun,
    user,
    *,
    attempt_id: int | None,
    untouched_only: bool = False,
    reason: str = "",
) -> UndoOutcome:
    """Undo (or redo) `run` as previewed on the page of status row
    `attempt_id`: once, however often and however concurrently that page is
    submitted."""
    if not access.may_undo(user, run):
        raise PermissionDenied
    attempt = attempt_shown(
        user, attempt_id, import_run=run, kind__in=(Run.Kind.UNDO, Run.Kind.REDO)
    )
    if attempt is None:
        return UndoOutcome(None, refusal=OUT_OF_DATE)
    large = in_background(run)
    claimed = claim(
        Run.objects.filter(pk=attempt.pk, status=Run.Status.PREVIEWED),
        status=Run.Status.QUEUED if large else Run.Status.RUNNING,
        claimed_at=timezone.now(),
        untouched_only=untouched_only,
        reason=reason.strip()[:255],
    )
    attempt.refresh_from_db()
    if not claimed:
        return UndoOutcome(attempt, refusal=describe(attempt), already_done=True)
    if large:
        from .tasks import run_queued_undo

        run_queued_undo.enqueue(attempt.pk)
        return UndoOutcome(attempt, queued=True)
    result = _execute(attempt, run, user, source=ActivityEvent.Source.ADMIN)
    return UndoOutcome(
        attempt,
        result=result,
        refusal=result.summary() if result.refused else "",
        already_done=result.already_done,
    )


def undo_now(
    run: ImportRun,
    user,
    *,
    source: str = ActivityEvent.Source.COMMAND,
    untouched_only: bool = False,
    reason: str = "",
    report: progress.Progress | None = None,
) -> undo.UndoResult:
    """Undo (or redo) `run` here, now (the command), with its status row."""
    target, redo = undo.chain_end(run)
    attempt = Run.objects.create(
        kind=Run.Kind.REDO if redo else Run.Kind.UNDO,
        title=title(run, redo=redo),
        status=Run.Status.RUNNING,
        user=user if getattr(user, "is_authenticated", False) else None,
        import_run=run,
        reverses=target,
        claimed_at=timezone.now(),
        untouched_only=untouched_only,
        reason=reason.strip()[:255],
    )
    return _execute(attempt, run, user, source=source, report=report)


def execute_queued(attempt_id: int) -> str:
    """The worker's task: claim a queued undo or redo and run it."""
    claimed = claim(
        Run.objects.filter(pk=attempt_id, status=Run.Status.QUEUED),
        status=Run.Status.RUNNING,
        claimed_at=timezone.now(),
    )
    attempt = Run.objects.select_related("user", "import_run").get(pk=attempt_id)
    if not claimed:
        return f"{attempt} is {attempt.get_status_display().lower()}; nothing to do."
    result = _execute(
        attempt,
        attempt.import_run,
        attempt.user,
        source=ActivityEvent.Source.ADMIN,
        report=progress.reporter(progress.UNDO, attempt.pk),
        background=True,
    )
    return result.summary()


def take_outcome(run: ImportRun, user) -> Run | None:
    """The outcome of `user`'s last background undo of `run`, once: the next
    visit to the undo page shows it, later visits do not."""
    attempt = (
        run.undo_runs.filter(
            user_id=user.pk,
            outcome_shown=False,
            status__in=(Run.Status.SUCCEEDED, Run.Status.REFUSED, Run.Status.FAILED),
        )
        .order_by("-pk")
        .first()
    )
    if attempt is None:
        return None
    if not claim(
        Run.objects.filter(pk=attempt.pk, outcome_shown=False), outcome_shown=True
    ):
        return None
    return attempt


def welcome_emails_sent(preview: undo.UndoResult) -> int:
    """How many doctors this undo would delete were welcomed by email already
    (their email went out, or is on its way: no failure is recorded for
    them). An undo does not unsend them; the preview says so."""
    if preview.redo or not preview.counts.get("doctor", {}).get("delete"):
        return 0
    created = Doctor.history.filter(
        change_set_id=preview.target.pk, history_type="+"
    ).values("id")
    return Doctor.objects.filter(
        pk__in=created, welcome_email_failure__isnull=True
    ).count()


def progress_of(attempt: Run) -> dict:
    """A background undo's status (from its row) and numbers (from the cache)."""
    numbers = progress.read(progress.UNDO, attempt.pk)
    phase = numbers.get("phase", "")
    queued = attempt.status == Run.Status.QUEUED or phase == "queued"
    return {
        "status": attempt.status,
        "status_text": "Waiting for the worker" if queued else "Undoing",
        "finished": attempt.status not in ACTIVE,
        "phase": "" if queued else phase,
        "done": numbers.get("done") or 0,
        "total": numbers.get("total") or 0,
    }


def _execute(
    attempt: Run,
    run: ImportRun,
    user,
    *,
    source: str,
    report: progress.Progress | None = None,
    background: bool = False,
) -> undo.UndoResult:
    """Run a claimed undo and record how it ended on its status row."""
    try:
        result = undo.undo_import(
            run,
            user=user,
            source=source,
            untouched_only=attempt.untouched_only,
            reason=attempt.reason,
            progress=report,
            reverses=attempt.reverses_id,
        )
    except Exception:
        logger.exception("%s failed", attempt)
        finish(
            attempt,
            Run.Status.FAILED,
            f"The {attempt.title} stopped on an internal error; nothing was "
            "changed. The error is in the log.",
            shown=not background,
        )
        raise
    finish(
        attempt,
        Run.Status.REFUSED if result.refused else Run.Status.SUCCEEDED,
        result.summary(),
        change_set=result.change_set,
        shown=not background,
    )
    return result
