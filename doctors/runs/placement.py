"""Here or in the worker: the one rule for every kind of run.

A run of more than settings.IMPORT_BACKGROUND_ROWS rows (an import's file,
or the import an undo reverses) goes to the task worker and its page shows the
progress; a smaller one runs in the request. Commands always run here.
"""

from django.conf import settings


def in_background(rows: int) -> bool:
    return rows > settings.IMPORT_BACKGROUND_ROWS
