"""How far a background import has got, for the progress page.

The import writes in one long transaction, so progress cannot go through the
database (nobody else would see it before the commit); it goes through the
shared cache instead. When Redis is unreachable the page shows the run's status
without numbers.
"""

from typing import Any

from django.core.cache import cache

TIMEOUT_SECONDS = 24 * 3600
EVERY_ROWS = 1000


def _key(run_id: int) -> str:
    return f"import-progress:{run_id}"


def read(run_id: int) -> dict[str, Any] | None:
    return cache.get(_key(run_id))


def reporter(run_id: int):
    """A progress callback for runner.run_import that stores the latest numbers."""

    def report(phase: str, done: int, total: int | None) -> None:
        finished = total is not None and done >= total
        if done % EVERY_ROWS == 0 or finished:
            cache.set(
                _key(run_id),
                {"phase": phase, "done": done, "total": total},
                timeout=TIMEOUT_SECONDS,
            )

    return report
