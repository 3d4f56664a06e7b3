"""Indexes for pages that must stay fast at 100k doctors.

- PostgreSQL only: the pg_trgm extension and GIN trigram indexes on the
  expressions Django's admin search and autocomplete filter on
  (UPPER(col::text) LIKE UPPER('%term%')) for doctors' names and emails and
  the feed's texts, and a pattern index for a license number's prefix
  (istartswith). On SQLite these operations do nothing.
- Both databases: an object's history, newest first, read from an index
  rather than by sorting every history row of the object; the feed events of a
  doctor or a department likewise.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

TRIGRAM_COLUMNS = [
    ("doctor_last_name_trgm", "last_name"),
    ("doctor_first_name_trgm", "first_name"),
    ("doctor_email_trgm", "email"),
]


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that does nothing on other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


FEED_TRIGRAM_COLUMNS = [
    ("activity_target_text_trgm", "target_text"),
    ("activity_department_text_trgm", "department_text"),
    ("activity_actor_name_trgm", "actor_name"),
]


def _trigram(name: str, column: str, table: str = "doctors_doctor") -> PostgresOnlySQL:
    return PostgresOnlySQL(
        f"CREATE INDEX {name} ON {table} "
        f"USING gin ((UPPER({column}::text)) gin_trgm_ops)",
        f"DROP INDEX {name}",
    )


def _history(table: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"CREATE INDEX {table}_id_date ON doctors_{table} "
        "(id, history_date DESC, history_id DESC)",
        f"DROP INDEX {table}_id_date",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("doctors", "0009_timetravel_history_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="activityevent",
            name="doctors_act_target__0f26c9_idx",
        ),
        migrations.AddIndex(
            model_name="activityevent",
            index=models.Index(
                fields=["target_type", "target_id", "-occurred_at", "verb"],
                name="activity_target_time_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="activityevent",
            index=models.Index(
                fields=["department_id", "-occurred_at", "verb"],
                name="activity_department_time_idx",
            ),
        ),
        # CREATE EXTENSION is skipped by Django on databases other than PostgreSQL.
        TrigramExtension(),
        *(_trigram(name, column) for name, column in TRIGRAM_COLUMNS),
        *(
            _trigram(name, column, "doctors_activityevent")
            for name, column in FEED_TRIGRAM_COLUMNS
        ),
        PostgresOnlySQL(
            "CREATE INDEX doctor_license_prefix ON doctors_doctor "
            "((UPPER(license_number::text)) text_pattern_ops)",
            "DROP INDEX doctor_license_prefix",
        ),
        _history("historicaldoctor"),
        _history("historicaldepartment"),
        _history("historicalmembership"),
    ]
