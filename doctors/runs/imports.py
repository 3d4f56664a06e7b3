"""The life of an import run, in one place.

    upload -> preview (a dry run; here, or in the worker when the file is large)
           -> confirm (claimed once: of two confirms one runs, the other is told)
           -> import (here, or in the worker), writing nothing if any row the
              file touches changed in the database since the preview
           -> the stored bytes are dropped; runs nobody confirmed, and runs a
              killed process left "running", are cleared by `sweep`, which the
              task worker calls on a schedule.

The admin pages, the import commands and the worker's task call these
functions; none of them changes an ImportRun's status by itself, and none
reaches into the importer (doctors.importing): what they need of it (the
formats and encodings to offer, the size check, a problem's text) is named
here. Who may see and confirm a run: access.py; here or in the worker:
placement.py.
"""

import datetime
import io
import logging
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import formats, timezone

from ..importing import storage
from ..importing.memberships.runner import MEMBERSHIPS
from ..importing.parsing import (
    ENCODING_CHOICES,
    ImportFileError,
    check_encoding_name,
    check_size,
)
from ..importing.readers.detect import FILE_FORMAT_CHOICES as FORMAT_CHOICES
from ..importing.readers.estimate import estimate_rows
from ..importing.readers.limits import from_settings
from ..importing.runner import DEPARTMENTS, DOCTORS, ImportResult, run_import
from ..importing.validation import Problem
from ..models import ActivityEvent, ImportRun
from . import access, placement, progress
from .progress import Progress
from .status import claim, moment_text

__all__ = [
    "DEPARTMENTS",
    "DOCTORS",
    "ENCODING_CHOICES",
    "MEMBERSHIPS",
    "FORMAT_CHOICES",
    "ImportFileError",
    "Problem",
    "check_encoding_name",
    "check_size",
]

logger = logging.getLogger(__name__)

KINDS = {
    DOCTORS.name: DOCTORS,
    DEPARTMENTS.name: DEPARTMENTS,
    MEMBERSHIPS.name: MEMBERSHIPS,
}
NOUNS = {
    DOCTORS.name: "doctor",
    DEPARTMENTS.name: "department",
    MEMBERSHIPS.name: "period",
}
FINISHED = {
    ImportRun.Status.PREVIEWED,
    ImportRun.Status.SUCCEEDED,
    ImportRun.Status.FAILED,
}


# Commands --------------------------------------------------------------------


def import_file(
    kind,
    stream: BinaryIO,
    *,
    file_name: str,
    user=None,
    dry_run: bool = False,
    encoding: str | None = None,
    file_format: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Check and import a file at once (the commands: no stored preview)."""
    return run_import(
        kind,
        stream,
        file_name=file_name,
        user=user,
        dry_run=dry_run,
        encoding=encoding,
        file_format=file_format,
        progress=progress,
        source=ActivityEvent.Source.COMMAND,
    )


# Where the work runs ---------------------------------------------------------


def estimated_rows(content: bytes, file_name: str = "", file_format: str = "") -> int:
    """An upper bound on the rows of a file, good enough to decide where to
    preview it (see readers.estimate)."""
    return estimate_rows(content, file_name, file_format, limits=from_settings())


def runs_in_background(rows: int) -> bool:
    return placement.in_background(rows)


def problem_text(row: int | None, column: str, message: str) -> str:
    """One stored problem ([row, column, message]) as a line for staff."""
    return str(Problem(row, column, message))


def counts_text(run: ImportRun) -> str:
    """What an import did (or its preview would do), in words: "4 doctors
    added, 2 changed, 10 unchanged; 12 memberships added"."""
    noun = NOUNS.get(run.kind, "row")

    def number(count: int, word: str = "") -> str:
        text = formats.number_format(count, force_grouping=True)
        if not word:
            return text
        return f"{text} {word if count == 1 else word + 's'}"

    added = "would be added" if run.dry_run else "added"
    changed = "would change" if run.dry_run else "changed"
    text = (
        f"{number(run.created, noun)} {added}, {number(run.updated)} {changed}, "
        f"{number(run.unchanged)} unchanged"
    )
    memberships = []
    for key, verb in (
        ("memberships_added", "added"),
        ("memberships_changed", "changed"),
        ("memberships_removed", "removed"),
    ):
        count = run.counts.get(key)
        if isinstance(count, int):
            word = "" if memberships else "membership"
            memberships.append(f"{number(count, word)} {verb}")
    if memberships:
        text += "; " + ", ".join(memberships)
    return text


def progress_of(run: ImportRun) -> dict:
    """A run's status (from its row) and numbers (from the cache), for the
    progress page's script."""
    numbers = progress.read(progress.IMPORT, run.pk)
    return {
        "status": run.status,
        "status_text": run.get_status_display(),
        "finished": run.status in FINISHED,
        "phase": numbers.get("phase", ""),
        "done": numbers.get("done", 0),
        "total": numbers.get("total") or run.total_rows,
    }


# Upload and preview ----------------------------------------------------------


def start_preview(
    kind,
    *,
    content: bytes,
    file_name: str,
    encoding: str,
    user,
    file_format: str = "",
) -> ImportRun:
    """Store an uploaded file and preview it: here, or in the worker when large.
    `file_format` is the user's choice (readers.detect.FILE_FORMAT_CHOICES), or
    "" to detect."""
    large = runs_in_background(estimated_rows(content, file_name, file_format))
    with transaction.atomic():
        run = ImportRun.objects.create(
            kind=kind.name,
            status=ImportRun.Status.QUEUED if large else ImportRun.Status.RUNNING,
            claimed_at=None if large else timezone.now(),
            user=user,
            source=ActivityEvent.Source.ADMIN,
            file_name=(file_name or "upload.csv")[:255],
            encoding=encoding,
            file_format=file_format,
            dry_run=True,
        )
        storage.store(run.pk, content)
    run = _runs().get(pk=run.pk)
    if large:
        _enqueue(run)
    else:
        _run(run)
    return run


def preview_again(run: ImportRun, user) -> ImportRun | None:
    """A new preview of the bytes of `run`, a confirm that found rows changed
    since its preview; None when they are gone (the user uploads again)."""
    if not access.may_confirm(user, run) or not run.content:
        return None
    if run.status != ImportRun.Status.FAILED or not run.counts.get(
        "changed_since_preview"
    ):
        return None
    content = storage.load(run.pk)
    ImportRun.objects.filter(pk=run.pk).update(content=b"")
    return start_preview(
        KINDS[run.kind],
        content=content,
        file_name=run.file_name,
        encoding=run.encoding,
        user=user,
        file_format=run.file_format,
    )


# Confirm ---------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmation:
    """What became of a confirm: `result` when it ran here, `queued` when the
    worker has it, otherwise `refusal` says why nothing was done."""

    run: ImportRun
    result: ImportResult | None = None
    queued: bool = False
    refusal: str = ""


def confirm(run: ImportRun, user, *, reason: str = "") -> Confirmation:
    """Import what `user` previewed as `run`, once, whoever else confirms it.

    `reason` (optional, as typed on the preview page) goes on the import's
    change-set."""
    if not access.may_confirm(user, run):
        return Confirmation(
            run, refusal="Only the user who uploaded a file may import it."
        )
    if run.status == ImportRun.Status.PREVIEWED and run.error_count:
        return Confirmation(
            run,
            refusal=f"{run.file_name} has problems; correct them and upload it again.",
        )
    large = runs_in_background(run.total_rows)
    # The claim: one UPDATE that only a previewed run with its bytes matches,
    # so of two confirms at once exactly one goes on.
    claimed = claim(
        ImportRun.objects.filter(
            pk=run.pk,
            user_id=user.pk,
            status=ImportRun.Status.PREVIEWED,
            dry_run=True,
            error_count=0,
        ).exclude(content=b""),
        status=ImportRun.Status.QUEUED if large else ImportRun.Status.RUNNING,
        dry_run=False,
        claimed_at=None if large else timezone.now(),
        reason=reason.strip()[:255],
    )
    run = _runs().select_related("user").get(pk=run.pk)
    if not claimed:
        return Confirmation(run, refusal=_already(run))
    if large:
        _enqueue(run)
        return Confirmation(run, queued=True)
    return Confirmation(run, result=_run(run))


def _already(run: ImportRun) -> str:
    """What a confirm that found the run claimed is told."""
    who = run.user.get_username() if run.user_id else "a command"
    if run.status in (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING):
        when = _local(run.claimed_at or run.started_at)
        why = f"is already being imported (confirmed by {who} at {when})"
    elif run.status == ImportRun.Status.SUCCEEDED:
        when = _local(run.finished_at or run.started_at)
        why = f"was already imported by {who} at {when} (import #{run.pk})"
    else:
        why = "can no longer be imported (its preview expired or it failed)"
    return f"{run.file_name} {why}; nothing more was done."


_local = moment_text


# The worker ------------------------------------------------------------------


def execute_queued(run_id: int) -> str:
    """The worker's task: claim a queued run and preview or import it."""
    claimed = claim(
        ImportRun.objects.filter(pk=run_id, status=ImportRun.Status.QUEUED),
        status=ImportRun.Status.RUNNING,
        claimed_at=timezone.now(),
    )
    run = _runs().select_related("user").get(pk=run_id)
    if not claimed:
        return f"Import run {run_id} is {run.status}; nothing to do."
    try:
        result = _run(run, report=progress.reporter(progress.IMPORT, run.pk))
    except Exception:
        # The transaction was rolled back; say so on the run's page.
        logger.exception("Import run %s failed", run_id)
        _fail(
            ImportRun.objects.filter(pk=run_id),
            "The import stopped on an internal error; nothing was imported. "
            "The error is in the worker's log.",
        )
        raise
    return result.summary()


def _run(run: ImportRun, *, report: Progress | None = None) -> ImportResult:
    """Preview or import a claimed run's stored bytes; the runner records it."""
    kind = KINDS[run.kind]
    return run_import(
        kind,
        io.BytesIO(storage.load(run.pk)),
        file_name=run.file_name,
        user=run.user,
        dry_run=run.dry_run,
        encoding=run.encoding or None,
        file_format=run.file_format or None,
        progress=report,
        expected_rows=run.total_rows or None,
        run=run,
        source=ActivityEvent.Source.ADMIN,
        expected_seen=None if run.dry_run else bytes(run.seen),
        reason=run.reason,
    )


def _runs() -> QuerySet[ImportRun]:
    """Runs without their stored file, which only `storage` reads and writes."""
    return ImportRun.objects.defer("content")


def _enqueue(run: ImportRun) -> None:
    from .tasks import run_queued_import  # the tasks call this module

    run_queued_import.enqueue(run.pk)


# Clearing up -----------------------------------------------------------------


def _fail(runs: QuerySet[ImportRun], message: str) -> int:
    return runs.update(
        status=ImportRun.Status.FAILED,
        finished_at=timezone.now(),
        error_count=1,
        errors=[Problem(None, "", message).as_list()],
        content=b"",
        seen=b"",
    )


def sweep(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Drop stored bytes nobody will use, and fail runs stuck in "running".

    - a preview not confirmed within IMPORT_PREVIEW_KEEP_HOURS, and a refused
      confirm's bytes (kept to preview again) after as long, lose their bytes;
    - a run "running" for longer than IMPORT_RUN_TIME_LIMIT_SECONDS was left by
      a process that died or was killed (the web server's timeout, a restart):
      its transaction is long gone, so nothing was written; it is marked failed.
    """
    now = now or timezone.now()
    keep = datetime.timedelta(hours=settings.IMPORT_PREVIEW_KEEP_HOURS)
    limit = datetime.timedelta(seconds=settings.IMPORT_RUN_TIME_LIMIT_SECONDS)
    purged = (
        ImportRun.objects.filter(
            Q(status=ImportRun.Status.PREVIEWED) | Q(status=ImportRun.Status.FAILED),
            started_at__lt=now - keep,
        )
        .exclude(content=b"", seen=b"")
        .update(content=b"", seen=b"")
    )
    stuck = _fail(
        ImportRun.objects.filter(
            status=ImportRun.Status.RUNNING, claimed_at__lt=now - limit
        ),
        f"The run stopped before it finished (still running after "
        f"{settings.IMPORT_RUN_TIME_LIMIT_SECONDS} s: the process was stopped); "
        "nothing was imported. Upload the file again.",
    )
    if purged or stuck:
        logger.info(
            "Import runs: %d stored file(s) dropped, %d stuck run(s) failed",
            purged,
            stuck,
        )
    return {"purged": purged, "failed": stuck}
