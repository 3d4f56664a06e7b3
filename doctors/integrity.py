"""Database constraint violations, told as a sentence staff understand.

The one translator of a refused write: the admin (a save that lost a race), the
importer and the revert call it. It finds the violated constraint's name and
looks up the words written beside the constraint (models.RULE_WORDS): on
PostgreSQL from psycopg's diagnostics, on SQLite (which has no structured
error) from the sentences its unique and check constraints and the period
rules' triggers (doctors.period_rules) use.
"""

import re

from django.apps import apps
from django.db import IntegrityError

from .models import RULE_WORDS

# SQLite: "UNIQUE constraint failed: index 'name'" for a named (partial or
# expression) index, "UNIQUE constraint failed: table.col[, table.col]" otherwise.
SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?:index '([^']+)'|(.+))$")
# SQLite: a named CHECK constraint, or a period rule's trigger
# (doctors.period_rules).
SQLITE_NAMED = re.compile(
    r"(?:CHECK constraint failed|period rule failed): ([A-Za-z0-9_]+)"
)
# PostgreSQL's own sentence, for an error that arrives without diagnostics.
POSTGRES_UNIQUE = re.compile(r'(?:unique|exclusion|check) constraint "([^"]+)"')
UNKNOWN = "The change conflicts with data saved meanwhile."


def _constraint_of_columns(columns: str) -> str:
    """The name of the unique constraint on these "table.column, ..." columns,
    or "table.column" for a field declared unique."""
    tables_columns = [part.strip().split(".", 1) for part in columns.split(",")]
    table = tables_columns[0][0]
    wanted = {column for _, column in tables_columns}
    for model in apps.get_app_config("doctors").get_models():
        if model._meta.db_table != table:
            continue
        for constraint in model._meta.constraints:
            fields = getattr(constraint, "fields", ())
            if fields and {model._meta.get_field(f).column for f in fields} == wanted:
                return constraint.name
    return columns.strip()


def _unique_field_of(name: str) -> str:
    """PostgreSQL names a unique field's index "<table>_<column>_<suffix>":
    the "table.column" key of RULE_WORDS, or the name as it is."""
    for key in RULE_WORDS:
        if "." in key and name.startswith(key.replace(".", "_") + "_"):
            return key
    return name


def violated_constraint(error: IntegrityError) -> str | None:
    """The RULE_WORDS key of the constraint a write violated, if known."""
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return _unique_field_of(name)
    text = str(cause if cause is not None else error).strip()
    sqlite = SQLITE_UNIQUE.search(text)
    if sqlite:
        return sqlite.group(1) or _constraint_of_columns(sqlite.group(2))
    named = SQLITE_NAMED.search(text)
    if named:
        return named.group(1)
    postgres = POSTGRES_UNIQUE.search(text)
    if postgres:
        return _unique_field_of(postgres.group(1))
    return None


def explain_integrity_error(error: IntegrityError) -> str:
    """A sentence for staff from a database constraint violation."""
    words = RULE_WORDS.get(violated_constraint(error) or "")
    return words.refused if words is not None else UNKNOWN
