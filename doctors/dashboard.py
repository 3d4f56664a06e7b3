"""What managers see, and how it is cached.

Cached blocks are keyed by a generation number read *before* the data is
queried. A committed change bumps the generation, so a reader that computed old
numbers before the commit stores them under the old generation, where nobody
looks any more; the TTL bounds staleness should a bump be lost.
"""

import logging
import time

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

GENERATION_KEY = "dashboard:generation"


def _fresh_generation() -> int:
    # Milliseconds since the epoch: a generation that was lost (Redis restart,
    # eviction) starts again above every number used before, never at 1.
    return int(time.time() * 1000)


def current_generation() -> int | None:
    """The generation to key cached blocks with; None when Redis is unreachable."""
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, _fresh_generation(), timeout=None)
        generation = cache.get(GENERATION_KEY)
    return generation


def bump_generation() -> None:
    """Make every cached dashboard block stale. Never raises."""
    try:
        try:
            cache.incr(GENERATION_KEY)
        except ValueError:  # no generation yet (or it was evicted)
            cache.add(GENERATION_KEY, _fresh_generation(), timeout=None)
    except Exception:
        logger.exception("Could not bump the dashboard cache generation")


def bump_generation_on_commit(using: str | None = None) -> None:
    """Bump the generation once when the current transaction commits.

    Many rows may change in one transaction; they share one bump. A rollback
    (of the transaction or of the savepoint that asked) drops it.
    """
    connection = transaction.get_connection(using)
    if connection.in_atomic_block and any(
        callback is bump_generation for _, callback, _ in connection.run_on_commit
    ):
        return
    transaction.on_commit(bump_generation, using=using, robust=True)
