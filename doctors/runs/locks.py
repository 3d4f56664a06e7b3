"""Keeping other writers out while a run checks and then writes."""

from django.db import connection
from django.db.models import Model


def lock_tables(models: tuple[type[Model], ...]) -> None:
    """Keep other writers out of the tables a run reads and then writes, until
    its transaction ends.

    SQLite's IMMEDIATE transactions already hold the database's write lock.
    PostgreSQL readers are not blocked by this lock mode.
    """
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")
