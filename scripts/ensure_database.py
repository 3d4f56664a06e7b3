"""Make sure the PostgreSQL database named by DATABASE_URL exists.

Run with the project's venv python (it needs dj-database-url and psycopg). Does
nothing when DATABASE_URL is unset or names another engine (SQLite). Exits 1 with
a clear message when the PostgreSQL server cannot be reached.

With --fresh the database is dropped first (the benchmarks use this on a database
of their own, never on the one DATABASE_URL names for the app).
"""

import os
import sys

import dj_database_url
import psycopg
from psycopg import sql

POSTGRES_ENGINES = {
    "django.db.backends.postgresql",
    "django.contrib.gis.db.backends.postgis",
}


def main(argv: list[str]) -> int:
    fresh = "--fresh" in argv
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return 0
    try:
        config = dj_database_url.parse(url)
    except Exception as exc:  # any parse error is a user error
        print(f"error: DATABASE_URL cannot be parsed: {exc}", file=sys.stderr)
        return 1
    if config.get("ENGINE") not in POSTGRES_ENGINES:
        return 0

    name = config.get("NAME") or ""
    host = config.get("HOST") or "localhost"
    port = config.get("PORT") or 5432
    params = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "connect_timeout": 5,
        "autocommit": True,
    }
    params.update(
        {k: v for k, v in (config.get("OPTIONS") or {}).items() if isinstance(v, str)}
    )
    if not name:
        print("error: DATABASE_URL names no database", file=sys.stderr)
        return 1

    last_error: Exception | None = None
    for maintenance_db in ("postgres", "template1"):
        try:
            with psycopg.connect(dbname=maintenance_db, **params) as conn:
                if fresh:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                if exists:
                    print(f"==> PostgreSQL database {name!r} on {host}:{port} is ready")
                else:
                    try:
                        conn.execute(
                            sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                        )
                    except psycopg.errors.DuplicateDatabase:
                        pass  # created meanwhile by another run
                    print(f"==> Created PostgreSQL database {name!r} on {host}:{port}")
                return 0
        except psycopg.OperationalError as exc:
            last_error = exc
        except psycopg.Error as exc:
            print(
                f"error: could not create PostgreSQL database {name!r} on "
                f"{host}:{port}: {exc}",
                file=sys.stderr,
            )
            return 1

    print(
        f"error: PostgreSQL at {host}:{port} is not reachable "
        f"({str(last_error).strip()}).\n"
        "  Start the PostgreSQL server, fix DATABASE_URL, or unset DATABASE_URL to "
        "use the local SQLite file.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
