"""The membership rules on every day, enforced by the database itself.

No two periods of one doctor in one department share a day, a department has
at most one head on any day, a doctor at most one primary department on any
day. Django cannot declare these portably, so migration 0017 installs them:
on PostgreSQL as exclusion constraints over inclusive date ranges (btree_gist
lets the equality columns join the GiST index), on SQLite as triggers that
abort the write with the rule's name. Either way every road is covered,
bulk writes and raw SQL included, and doctors.integrity turns the refusal into
the rule's words (models.RULE_WORDS) by that name.
"""

from django.db import migrations

# The rules' names, which models.RULE_WORDS words (kept here so that the
# migration does not import today's models).
OVERLAP_RULE = "membership_unique_doctor_department"
HEAD_RULE = "membership_one_head_per_department"
PRIMARY_RULE = "membership_one_primary_per_doctor"

TABLE = "doctors_membership"
DAYS = "daterange(joined_on, left_on, '[]')"

# (rule name, the columns that must be equal, the rows it is about)
RULES = (
    (OVERLAP_RULE, ("doctor_id", "department_id"), None),
    (HEAD_RULE, ("department_id",), "role = 'head'"),
    (PRIMARY_RULE, ("doctor_id",), "is_primary"),
)

POSTGRESQL_FORWARDS = ["CREATE EXTENSION IF NOT EXISTS btree_gist"] + [
    f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} EXCLUDE USING gist ("
    + ", ".join(f"{column} WITH =" for column in equal)
    + f", {DAYS} WITH &&)"
    + (f" WHERE ({where})" if where else "")
    for name, equal, where in RULES
]
POSTGRESQL_BACKWARDS = [
    f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {name}" for name, _, _ in RULES
]

# SQLite's RAISE makes the statement fail with this text (doctors.integrity
# reads the name back).
SQLITE_MESSAGE = "period rule failed: {name}"


def _sqlite_checks(*, updating: bool) -> str:
    overlap = (
        "(m.left_on IS NULL OR m.left_on >= NEW.joined_on) "
        "AND (NEW.left_on IS NULL OR m.joined_on <= NEW.left_on)"
    )
    other = " AND m.id != NEW.id" if updating else ""
    checks = []
    for name, equal, where in RULES:
        same = " AND ".join(f"m.{column} = NEW.{column}" for column in equal)
        own = f"m.{where}" if where else "1"
        new = f"NEW.{where}" if where else "1"
        checks.append(
            f"SELECT RAISE(ABORT, '{SQLITE_MESSAGE.format(name=name)}') "
            f"WHERE ({new}) AND EXISTS (SELECT 1 FROM {TABLE} AS m "
            f"WHERE {same} AND ({own}) AND {overlap}{other});"
        )
    return "\n".join(checks)


SQLITE_FORWARDS = [
    f"CREATE TRIGGER membership_period_rules_insert BEFORE INSERT ON {TABLE} "
    f"BEGIN\n{_sqlite_checks(updating=False)}\nEND",
    f"CREATE TRIGGER membership_period_rules_update BEFORE UPDATE OF "
    f"doctor_id, department_id, role, is_primary, joined_on, left_on ON {TABLE} "
    f"BEGIN\n{_sqlite_checks(updating=True)}\nEND",
]
SQLITE_BACKWARDS = [
    "DROP TRIGGER IF EXISTS membership_period_rules_insert",
    "DROP TRIGGER IF EXISTS membership_period_rules_update",
]


class InstallPeriodRules(migrations.operations.base.Operation):
    """Installs the rules above on the database in use (PostgreSQL or SQLite)."""

    reduces_to_sql = True
    reversible = True

    def state_forwards(self, app_label, state):
        pass

    def _run(self, schema_editor, statements_by_vendor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._run(
            schema_editor,
            {"postgresql": POSTGRESQL_FORWARDS, "sqlite": SQLITE_FORWARDS},
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._run(
            schema_editor,
            {"postgresql": POSTGRESQL_BACKWARDS, "sqlite": SQLITE_BACKWARDS},
        )

    def describe(self):
        return "Install the membership period rules (exclusion constraints/triggers)"
