"""Calls released together from threads: how the race tests send two requests
at the same moment to a live server."""

import threading
from collections.abc import Callable


def at_once(*calls: Callable) -> list:
    """Run the calls in threads released by one barrier; their results in order.
    An exception in any call fails the test in the caller's thread."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results
