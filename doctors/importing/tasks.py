"""The confirmed import of a large file, run by the task worker."""

import io
import logging

from django.tasks import task

from ..models import ActivityEvent, ImportRun
from . import progress
from .runner import DEPARTMENTS, DOCTORS, run_import
from .validation import Problem

logger = logging.getLogger(__name__)
KINDS = {DOCTORS.name: DOCTORS, DEPARTMENTS.name: DEPARTMENTS}


@task()
def run_queued_import(run_id: int) -> str:
    """Preview (dry run) or import the file stored on ImportRun `run_id`, as
    the run says; return the summary."""
    run = ImportRun.objects.select_related("user").get(pk=run_id)
    if run.status != ImportRun.Status.QUEUED:
        return f"Import run {run_id} is {run.status}; nothing to do."
    run.status = ImportRun.Status.RUNNING
    run.save(update_fields=["status"])
    try:
        result = run_import(
            KINDS[run.kind],
            io.BytesIO(run.content),
            file_name=run.file_name,
            user=run.user,
            dry_run=run.dry_run,
            encoding=run.encoding or None,
            file_format=run.file_format or None,
            progress=progress.reporter(run.pk),
            expected_rows=run.total_rows,
            run=run,
            source=ActivityEvent.Source.ADMIN,
        )
    except Exception:
        # The transaction was rolled back; say so on the run's page.
        logger.exception("Import run %s failed", run_id)
        problem = Problem(
            None,
            "",
            "The import stopped on an internal error; "
            "nothing was imported. The error is in the worker's log.",
        )
        ImportRun.objects.filter(pk=run_id).update(
            status=ImportRun.Status.FAILED,
            error_count=1,
            errors=[problem.as_list()],
            content=b"",
        )
        raise
    return result.summary()
