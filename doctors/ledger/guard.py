"""PostgreSQL: the history and feed tables refuse UPDATE and DELETE.

A row trigger on each table raises unless the transaction has set
`clinic.erasing` to 'on' (SET LOCAL, so it ends with the transaction), which
only erasure (and the sealing of stray rows) does, through `sanctioned()`.
When a role named clinic_eraser exists, the setting counts only for its
members: an operator can then keep the application's own role out of
erasure entirely (docs/history-and-erasure.md). One change is always
allowed: setting the acting user's column to null, which is what deleting a
user does to the rows that named them.

On SQLite there is no such guard; the chain still catches any change.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, router, transaction

ERASER_ROLE = "clinic_eraser"

# (table, the acting user's column that a deleted user sets to null)
GUARDED_TABLES = [
    ("doctors_activityevent", "actor_id"),
    ("doctors_historicaldoctor", "history_user_id"),
    ("doctors_historicaldepartment", "history_user_id"),
    ("doctors_historicalmembership", "history_user_id"),
    ("doctors_chainlink", ""),
]

FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION clinic_guard_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('clinic.erasing', true) = 'on'
       AND (NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ERASER_ROLE}')
            OR pg_has_role(current_user, '{ERASER_ROLE}', 'MEMBER')) THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND TG_NARGS > 0
       AND to_jsonb(NEW) -> TG_ARGV[0] = 'null'::jsonb
       AND (to_jsonb(NEW) - TG_ARGV[0]) = (to_jsonb(OLD) - TG_ARGV[0]) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'The change history is kept as written: rows of % cannot be '
        'changed or deleted (personal data is removed by erasure only).',
        TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def create_sql() -> list[str]:
    statements = [FUNCTION_SQL]
    for table, user_column in GUARDED_TABLES:
        argument = f"'{user_column}'" if user_column else ""
        statements.append(
            f"CREATE TRIGGER {table}_guard BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION clinic_guard_history({argument})"
        )
    return statements


def drop_sql() -> list[str]:
    statements = [
        f"DROP TRIGGER IF EXISTS {table}_guard ON {table}"
        for table, _ in GUARDED_TABLES
    ]
    statements.append("DROP FUNCTION IF EXISTS clinic_guard_history()")
    return statements


@contextmanager
def sanctioned(using: str | None = None) -> Iterator[None]:
    """A transaction in which the guarded tables may be changed (erasure)."""
    from ..models import ActivityEvent

    using = using or router.db_for_write(ActivityEvent)
    with transaction.atomic(using=using):
        connection = connections[using]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL clinic.erasing = 'on'")
        yield
