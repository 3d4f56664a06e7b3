"""SQLite only: trigram full-text indexes for the admin's searches.

SQLite has no pg_trgm, so Django's search (LIKE '%term%') reads every doctor or
feed event. An FTS5 table with the trigram tokenizer indexes the searched
columns of each row; the admin narrows its search to the rows the index finds
(doctors/admin/search.py). The tables hold no text of their own (external
content): triggers keep them in step with every INSERT, UPDATE and DELETE,
including the bulk import's raw INSERTs, and the migration fills them for the
rows that exist. On PostgreSQL these operations do nothing (the pg_trgm
indexes of 0010 serve the same searches).
"""

from django.db import migrations

# (indexed table, FTS table, columns)
SEARCH_INDEXES = [
    (
        "doctors_doctor",
        "doctors_doctor_fts",
        ["first_name", "last_name", "email", "license_number"],
    ),
    (
        "doctors_activityevent",
        "doctors_activityevent_fts",
        ["target_text", "department_text", "actor_name"],
    ),
]


class SQLiteOnlySQL(migrations.RunSQL):
    """RunSQL that does nothing on other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "sqlite":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "sqlite":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def _fts(table: str, fts: str, columns: list[str]) -> SQLiteOnlySQL:
    names = ", ".join(columns)
    new = ", ".join(f"new.{column}" for column in columns)
    old = ", ".join(f"old.{column}" for column in columns)
    delete_old = (
        f"INSERT INTO {fts} ({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"
    )
    insert_new = f"INSERT INTO {fts} (rowid, {names}) VALUES (new.id, {new});"
    return SQLiteOnlySQL(
        [
            f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', "
            "content_rowid='id', tokenize='trigram')",
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
            f"{insert_new} END",
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
            f"{delete_old} END",
            f"CREATE TRIGGER {fts}_update AFTER UPDATE OF id, {names} ON {table} "
            f"BEGIN {delete_old} {insert_new} END",
            # The rows that exist: 'rebuild' reads them from the content table.
            f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')",
        ],
        [
            f"DROP TRIGGER {fts}_update",
            f"DROP TRIGGER {fts}_delete",
            f"DROP TRIGGER {fts}_insert",
            f"DROP TABLE {fts}",
        ],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("doctors", "0012_sheets_importrun_file_format"),
    ]

    operations = [_fts(*index) for index in SEARCH_INDEXES]
