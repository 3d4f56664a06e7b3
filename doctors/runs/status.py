"""The status rows of undo, redo and revert runs (doctors.models.Run): the
claim, the end, and what a second submission is told.

An import's status row is its ImportRun (doctors.runs.imports); both are
claimed the same way, by `claim`.
"""

import datetime

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from ..models import ChangeSet, Run
from . import access

ACTIVE = (Run.Status.QUEUED, Run.Status.RUNNING)
OUT_OF_DATE = (
    "This page is out of date; nothing was done. "
    "Check the preview below and confirm again."
)


def attempt_shown(user, attempt_id: int | None, **about) -> Run | None:
    """The status row a submitted page names, if it was shown to `user` and is
    about what the page is about (`about`: filters such as import_run=...);
    None for a page that is out of date or not theirs."""
    if not attempt_id:
        return None
    attempt = Run.objects.filter(pk=attempt_id, **about).select_related("user").first()
    if attempt is None or not access.owns_attempt(user, attempt):
        return None
    return attempt


def claim(rows: QuerySet, **changes) -> bool:
    """Take a run: one conditional UPDATE whose filter only the run in its
    expected state matches. Of two submissions at once, exactly one gets the
    row; the other's UPDATE matches nothing (PostgreSQL re-reads the row once
    the first commits; SQLite writes one at a time)."""
    return rows.update(**changes) == 1


def finish(
    attempt: Run,
    status: str,
    outcome: str,
    *,
    change_set: ChangeSet | None = None,
    shown: bool = False,
) -> None:
    """Record how a run ended (and, with `shown`, that its user has been told)."""
    attempt.status = status
    attempt.outcome = outcome
    attempt.finished_at = timezone.now()
    attempt.change_set = change_set
    attempt.outcome_shown = shown
    Run.objects.filter(pk=attempt.pk).update(
        status=status,
        outcome=outcome,
        finished_at=attempt.finished_at,
        change_set=change_set,
        outcome_shown=shown,
    )


def describe(attempt: Run) -> str:
    """What became of a run whose page was submitted again (its claim found it
    taken): "The undo of import #4 was already done by admin at 14:02: ..."."""
    what = _what(attempt)
    who = attempt.user.get_username() if attempt.user_id else "a command or task"
    if attempt.status in ACTIVE:
        when = _when(attempt.claimed_at or attempt.created_at)
        return (
            f"{what} is already under way (confirmed by {who} at {when}); "
            "nothing more was done."
        )
    when = _when(attempt.finished_at or attempt.created_at)
    if attempt.status == Run.Status.SUCCEEDED:
        return f"{what} was already done by {who} at {when}: {attempt.outcome}"
    if attempt.status in (Run.Status.REFUSED, Run.Status.FAILED):
        return (
            f"{what} was already tried at {when} and nothing was changed: "
            f"{attempt.outcome}"
        )
    return f"{what} was not confirmed; nothing was done."


def _what(attempt: Run) -> str:
    return f"The {attempt.title}"


def moment_text(moment) -> str:
    """A moment as the clinic writes it in messages ("4 Dec 2026, 14:02")."""
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


_when = moment_text


def sweep(*, now=None) -> dict[str, int]:
    """Drop previews nobody confirmed, and fail runs stuck in "running".

    - an undo, redo or revert previewed more than IMPORT_PREVIEW_KEEP_HOURS
      ago and never confirmed is deleted (its page, if still open, is told it
      is out of date);
    - one "running" or "queued" for longer than IMPORT_RUN_TIME_LIMIT_SECONDS
      was left by a process that died: its transaction is long gone, so
      nothing was written; it is marked failed.
    """
    now = now or timezone.now()
    keep = datetime.timedelta(hours=settings.IMPORT_PREVIEW_KEEP_HOURS)
    limit = datetime.timedelta(seconds=settings.IMPORT_RUN_TIME_LIMIT_SECONDS)
    dropped, _ = Run.objects.filter(
        status=Run.Status.PREVIEWED, created_at__lt=now - keep
    ).delete()
    stuck = Run.objects.filter(status__in=ACTIVE, claimed_at__lt=now - limit).update(
        status=Run.Status.FAILED,
        finished_at=now,
        outcome="The run stopped before it finished (the process was stopped); "
        "nothing was changed.",
    )
    return {"previews_dropped": dropped, "runs_failed": stuck}
