"""After-commit callbacks that must run once per transaction, and whether one
is still waiting.

Django has no public way to ask whether a callback registered with
`transaction.on_commit` is still waiting for the commit: a savepoint or a
transaction that is rolled back drops its callbacks, and there is no rollback
hook to tell anyone. `is_pending` therefore reads the connection's
`run_on_commit` list. That is the project's one use of a private Django
attribute; it lives here, and only here, because no public API answers the
question.
"""

from collections.abc import Callable

from django.db import transaction


def is_pending(func: Callable[[], object], using: str | None = None) -> bool:
    """Whether `func` waits for the current transaction to commit."""
    connection = transaction.get_connection(using)
    return any(callback is func for _, callback, _ in connection.run_on_commit)


def once(func: Callable[[], object], using: str | None = None) -> None:
    """Run `func` when the current transaction commits (at once outside one),
    once however often this is called in it. A rollback (of the transaction
    or of the savepoint that asked) drops it; a later call asks again."""
    connection = transaction.get_connection(using)
    if connection.in_atomic_block and is_pending(func, using):
        return
    transaction.on_commit(func, using=using, robust=True)
