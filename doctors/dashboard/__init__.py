"""What managers see, and how it is cached.

Cached blocks are keyed by a generation number read *before* the data is
queried. A committed change bumps the generation, so a reader that computed old
numbers before the commit stores them under the old generation, where nobody
looks any more; the TTL bounds staleness should a bump be lost.

This module holds the generation; the package's other modules hold the rest:
`filters` (period and department), `blocks` (the numbers, from the database),
`caching` (blocks under generation keys), `charts` (server-side SVG),
`feed_csv` (the feed export) and `views`.

Redis faults: the cache is configured with IGNORE_EXCEPTIONS, so a failed call
comes back as a miss after at most the socket timeout. A reader that cannot
read the generation computes live and stores nothing. A bump that fails (Redis
down or hung while a change commits) is remembered in this process and made
good by the next generation read that reaches Redis, before anything cached is
trusted again. A failed read is remembered the same way: while this process
could not reach Redis, another one may have lost a bump. A process that saw no
failure cannot know of another's lost bump; for it the TTL bounds how long a
block can stay stale.
"""

import logging
import threading
import time

from django.core.cache import cache

from .. import on_commit

# Every cache failure is logged under one name, rate-limited by
# clinic.logging.RateLimitFilter (see LOGGING in settings).
logger = logging.getLogger("clinic.cache")

GENERATION_KEY = "dashboard:generation"

_missed_bump = threading.Event()


def _fresh_generation() -> int:
    # Milliseconds since the epoch: a generation that was lost (Redis restart,
    # eviction) starts again above every number used before, never at 1.
    return int(time.time() * 1000)


def _read_generation() -> int | None:
    """The stored generation, creating it if missing; None when Redis fails.

    `incr(key, 0)` reads the value in one round trip and tells the three cases
    apart: a number (stored), ValueError (missing) and None (the cache backend
    swallowed a connection error or timeout). A plain `get` answers None for
    both a missing key and an unreachable server.
    """
    try:
        generation = cache.incr(GENERATION_KEY, 0)
    except ValueError:
        if cache.add(GENERATION_KEY, _fresh_generation(), timeout=None) is None:
            return None
        generation = cache.get(GENERATION_KEY)
    return generation


def current_generation() -> int | None:
    """The generation to key cached blocks with; None when Redis is unreachable."""
    try:
        generation = _read_generation()
        if generation is not None and _missed_bump.is_set():
            # A change committed while Redis could not be told: blocks cached
            # under this generation may predate it.
            _missed_bump.clear()
            bump_generation()
            # Still not bumped (Redis failed again): nothing cached is trusted.
            generation = None if _missed_bump.is_set() else _read_generation()
    except Exception:
        logger.warning("Could not read the dashboard cache generation", exc_info=True)
        generation = None
    if generation is None:
        _missed_bump.set()
    return generation


def bump_generation() -> None:
    """Make every cached dashboard block stale. Never raises."""
    try:
        try:
            bumped = cache.incr(GENERATION_KEY)
        except ValueError:  # no generation yet (or it was evicted)
            bumped = cache.add(GENERATION_KEY, _fresh_generation(), timeout=None)
    except Exception:
        logger.exception("Could not bump the dashboard cache generation")
        bumped = None
    else:
        if bumped is None:
            logger.warning("Could not bump the dashboard cache generation: no Redis")
    if bumped is None:
        # The next generation read that reaches Redis bumps before anything
        # cached is trusted again.
        _missed_bump.set()


def bump_generation_on_commit(using: str | None = None) -> None:
    """Bump the generation once when the current transaction commits.

    Many rows may change in one transaction; they share one bump. A rollback
    (of the transaction or of the savepoint that asked) drops it.
    """
    on_commit.once(bump_generation, using)
