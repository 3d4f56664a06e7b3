"""The task the worker runs for a large file's preview or import (see service.py)."""

from django.tasks import task

from . import service


@task()
def run_queued_import(run_id: int) -> str:
    """Preview (dry run) or import the file stored on ImportRun `run_id`, as
    the run says; return the summary."""
    return service.execute_queued(run_id)
