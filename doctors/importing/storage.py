"""The uploaded file's bytes, kept on its ImportRun between preview and import.

The ORM sends and reads a bytea value as hex text on PostgreSQL (client-side
binding): a 20 MB file then costs some 150 MB of memory to store. Here the bytes
go in PostgreSQL's binary format, on the same connection and transaction;
other databases use the ORM, which passes them as they are.
"""

from django.db import connection

from ..models import ImportRun


def store(run_id: int, content: bytes) -> None:
    if connection.vendor != "postgresql":
        ImportRun.objects.filter(pk=run_id).update(content=content)
        return
    import psycopg

    connection.ensure_connection()
    table = connection.ops.quote_name(ImportRun._meta.db_table)
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"UPDATE {table} SET content = %b WHERE id = %s", (content, run_id)
        )


def load(run_id: int) -> bytes:
    if connection.vendor != "postgresql":
        return bytes(
            ImportRun.objects.filter(pk=run_id).values_list("content", flat=True).get()
        )
    import psycopg

    connection.ensure_connection()
    table = connection.ops.quote_name(ImportRun._meta.db_table)
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"SELECT content FROM {table} WHERE id = %s", (run_id,), binary=True
        )
        (content,) = cursor.fetchone()
    return bytes(content)
