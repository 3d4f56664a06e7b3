"""Dashboard blocks in Redis, under keys made of the generation and the filters.

The generation is read once per page view, before any block is queried (see
doctors.dashboard). All blocks of a view are fetched in one round trip and the
missing ones stored in one more, for DASHBOARD_CACHE_SECONDS.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache

import doctors.dashboard as generation
from doctors import periods


def cache_seconds() -> int:
    return getattr(settings, "DASHBOARD_CACHE_SECONDS", 300)


# Part of every key: raised when the blocks' templates or data change, so a new
# release never serves HTML that the previous one cached.
LAYOUT = "2"


class BlockCache:
    """The cache as one page view sees it: one generation for all its blocks."""

    def __init__(self) -> None:
        # Read BEFORE any block is computed: numbers computed from here on are
        # at least as new as this generation.
        self.generation = generation.current_generation()

    @property
    def available(self) -> bool:
        return self.generation is not None

    def key(self, name: str, filters_key: str) -> str:
        # Today is in the key: counts of members are of the periods covering
        # today, and a period that starts or ends at midnight changes them
        # with no save to bump the generation.
        day = periods.today().isoformat()
        return f"dashboard:{LAYOUT}:{self.generation}:{day}:{name}:{filters_key}"

    def fetch(
        self, computations: dict[str, Callable[[], Any]], filters_key: str
    ) -> dict[str, Any]:
        """Each block's value: from the cache if there, else computed and stored.

        With Redis unreachable every block is computed live and nothing is
        stored (each further call would only wait for the socket timeout).
        """
        if not self.available:
            return {name: compute() for name, compute in computations.items()}
        keys = {name: self.key(name, filters_key) for name in computations}
        found = cache.get_many(list(keys.values()))
        values, computed = {}, {}
        for name, compute in computations.items():
            key = keys[name]
            if key in found:
                values[name] = found[key]
            else:
                values[name] = computed[key] = compute()
        if computed:
            cache.set_many(computed, timeout=cache_seconds())
        return values
