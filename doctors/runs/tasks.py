"""The tasks the worker runs for runs too large for a request: an import's
preview or import, an undo or redo (see placement.py)."""

from django.tasks import task

from . import imports, undos


@task()
def run_queued_import(run_id: int) -> str:
    """Preview (dry run) or import the file stored on ImportRun `run_id`, as
    the run says; return the summary."""
    return imports.execute_queued(run_id)


@task()
def run_queued_undo(attempt_id: int) -> str:
    """Undo or redo the import of status row (Run) `attempt_id`; return the
    summary."""
    return undos.execute_queued(attempt_id)
