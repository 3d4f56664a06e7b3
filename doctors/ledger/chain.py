"""Adding links to the history chain, and reading its head.

A change-set is sealed when it closes (doctors.context), in one transaction:
lock the chain head, read back the rows stamped with the change-set (less
those the bulk writers wrote down as they wrote them: ledger.written), write
one link and move the head. Bulk paths therefore add one link per change-set,
whatever the number of rows. The head row is locked with SELECT ... FOR
UPDATE on PostgreSQL; SQLite's IMMEDIATE write transactions already run one
at a time. Concurrent writers thus make one linear chain.
"""

import datetime
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, models, router, transaction
from django.utils import timezone

from ..models import ChainHead, ChainLink, ChangeSet, ErasedCommitment, PersonalDataKey
from . import canonical
from .canonical import TABLES, Table

if TYPE_CHECKING:
    from .written import Usable, WrittenRows

CHUNK_SIZE = 5000
# Ids per key lookup: under SQLite's limit of host parameters (32,766).
LOOKUP_SIZE = 5000
# Keys stored by COPY on PostgreSQL from this many (fewer: one INSERT, no
# savepoint around it).
COPY_KEYS_FROM = 1000
# What sealing a small change-set costs: lock the head, read its rows (five
# tables), read and make keys, write the link, move the head.
SEAL_QUERIES = 10


# Sealing waits while a writer stages a past (the demo clinic dates its
# change-sets back, then seals them all, oldest first: `paused`).
_paused: ContextVar[bool] = ContextVar("history_chain_paused", default=False)


def enabled() -> bool:
    """HISTORY_CHAIN (on by default) switches sealing off, for measuring what
    the chain costs; a chain left off while data changes no longer verifies."""
    return bool(getattr(settings, "HISTORY_CHAIN", True)) and not _paused.get()


@contextmanager
def paused() -> Iterator[None]:
    """No change-set closed inside the block is sealed; call
    `seal_unsealed()` after it."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


def seal_unsealed() -> int:
    """Seal every change-set not in the chain yet, oldest first."""
    with transaction.atomic(using=router.db_for_write(ChainLink)):
        lock_head()
        sealed = 0
        for change_set_id in list(unsealed_change_sets()):
            seal(change_set_id)
            sealed += 1
    return sealed


class Keyring:
    """The keys of the keyed commitments, and the commitments erasure kept.

    `create` (sealing) makes a random key for a doctor or change-set that has
    none yet. Sealing holds the chain head's lock, as erasure does, so no key
    appears or goes meanwhile. Verification never makes keys, and uses the
    commitments erasure kept (`load_all`).
    """

    def __init__(self, *, create: bool):
        self.create = create
        self.keys: dict[tuple[str, int], bytes] = {}
        self.erased: dict[tuple[str, int], str] = {}
        self.missing: set[tuple[str, int]] = set()

    def load_all(self) -> None:
        for kind, object_id, key in PersonalDataKey.objects.values_list(
            "kind", "object_id", "key"
        ).iterator(chunk_size=CHUNK_SIZE):
            self.keys[(kind, object_id)] = bytes(key)
        for table, row_id, commitment in ErasedCommitment.objects.values_list(
            "table", "row_id", "commitment"
        ).iterator(chunk_size=CHUNK_SIZE):
            self.erased[(table, row_id)] = commitment

    def prepare(self, needed: set[tuple[str, int]]) -> None:
        """Load (or make) the keys not loaded yet among `needed`."""
        needed = needed - self.keys.keys()
        if not needed:
            return
        by_kind: dict[str, list[int]] = {}
        for kind, object_id in needed:
            by_kind.setdefault(kind, []).append(object_id)
        # Plain SQL: the ORM prepared each of the thousands of ids one by one.
        table = connection.ops.quote_name(PersonalDataKey._meta.db_table)
        postgresql = connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            for kind, ids in by_kind.items():
                ids.sort()
                for start in range(0, len(ids), LOOKUP_SIZE):
                    part = ids[start : start + LOOKUP_SIZE]
                    if postgresql:
                        # One array parameter, typed as the column: psycopg
                        # sends small ids as integer[], and bigint = integer
                        # made the server compare every key of the kind with
                        # each id in turn (1.4 s per 5,000 ids among 100,000
                        # keys; 12 ms as bigint[], which it hashes).
                        where = "object_id = ANY(%s::bigint[])"
                        params = [kind, part]
                    else:
                        marks = ", ".join(["%s"] * len(part))
                        where, params = f"object_id IN ({marks})", [kind, *part]
                    cursor.execute(
                        f"SELECT object_id, key FROM {table}"
                        f" WHERE kind = %s AND {where}",
                        params,
                    )
                    for object_id, key in cursor.fetchall():
                        self.keys[(kind, object_id)] = bytes(key)
        absent = needed - self.keys.keys()
        if absent and self.create:
            # One call to the system's random source for all the keys.
            random = os.urandom(32 * len(absent))
            made = [
                (kind, object_id, random[n * 32 : n * 32 + 32])
                for n, (kind, object_id) in enumerate(sorted(absent))
            ]
            # Under the head's lock no key appears meanwhile.
            if insert_new_keys(made) != len(made):
                raise RuntimeError("A personal data key appeared while sealing.")
            for kind, object_id, key in made:
                self.keys[(kind, object_id)] = key

    def commit(
        self, table: str, row_id: int, kind: str, object_id: int, values: list[Any]
    ) -> str:
        stored = self.erased.get((table, row_id))
        if stored is not None:
            return stored
        key = self.keys.get((kind, object_id))
        if key is None:
            self.missing.add((kind, object_id))
            return "no key"
        return canonical.commitment(key, table, row_id, values)


def insert_new_keys(rows: list[tuple[str, int, bytes]]) -> int:
    """Store new keys, (kind, object id, key) each; return how many were
    stored: a key that exists already is kept (and not counted).

    One statement: the kinds and ids as arrays (PostgreSQL) or one JSON array
    (SQLite), the keys as one blob the database cuts into 32-byte keys. An
    import makes a key per new doctor; the ORM's bulk_create, and even a
    prepared INSERT per key, cost more than hashing their rows.
    """
    if not rows:
        return 0
    table = connection.ops.quote_name(PersonalDataKey._meta.db_table)
    if (
        connection.vendor == "postgresql"
        and len(rows) >= COPY_KEYS_FROM
        and _copied(table, rows)
    ):
        return len(rows)
    kinds, ids, keys = (list(column) for column in zip(*rows, strict=True))
    if connection.vendor == "postgresql":
        made = (
            "SELECT kind, object_id, substring(%s::bytea from (n::int - 1) * 32 + 1"
            " for 32) FROM unnest(%s::varchar[], %s::bigint[]) WITH ORDINALITY"
            " AS made(kind, object_id, n)"
        )
        params = [b"".join(keys), kinds, ids]
    else:
        made = (
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
            " substr(%s, key * 32 + 1, 32) FROM json_each(%s)"
        )
        params = [b"".join(keys), json.dumps(list(zip(kinds, ids, strict=True)))]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (kind, object_id, key) SELECT * FROM ({made})"
            # WHERE true: else SQLite's parser reads ON as a join's.
            " AS made WHERE true ON CONFLICT (kind, object_id) DO NOTHING",
            params,
        )
        return cursor.rowcount


def _copied(table: str, rows: list[tuple[str, int, bytes]]) -> bool:
    """On PostgreSQL, COPY the keys in, in a savepoint: False (nothing
    stored) when one of them exists already. The keys made for new doctors
    are new but for a restored or hand-edited database, and COPY stores
    100,000 keys in 0.4 s where INSERT ... ON CONFLICT took 1.1 s."""
    try:
        with transaction.atomic(using=connection.alias):
            with connection.cursor() as cursor:
                with cursor.cursor.copy(
                    f"COPY {table} (kind, object_id, key) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
    except (IntegrityError, connection.Database.IntegrityError):
        return False  # COPY runs on the driver's own cursor: its error
    return True


def _datetime_text(column: str, *, sqlite: bool) -> str:
    """SQL for a date-time column as the format writes it
    ("YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC; NULL stays NULL), as
    canonical.plain_datetime does in Python. SQLite stores UTC text,
    "YYYY-MM-DD HH:MM:SS[.ffffff]"."""
    if not sqlite:
        return (
            f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        )
    return (
        f"(substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || '.'"
        f" || CASE WHEN substr({column}, 20, 1) = '.'"
        f" THEN substr(substr({column}, 21, 6) || '000000', 1, 6)"
        f" ELSE '000000' END || 'Z')"
    )


def _read_columns(table: Table) -> tuple[list[str], list[tuple[int, Any]]]:
    """The SELECT list, and (column index, function) for the columns whose
    stored form differs between the databases: date-times, dates, booleans,
    JSON.

    Date-times and dates are written in the format's text by the database
    itself (on SQLite from the stored text, on PostgreSQL with to_char in
    UTC), and booleans read as 0/1 on SQLite: this keeps the driver from
    parsing each value into a Python object only for it to be written back
    as text, which cost more than the hashing.
    """
    fields = {f.attname: f for f in table.model()._meta.concrete_fields}
    sqlite = connection.vendor == "sqlite"
    quote = connection.ops.quote_name
    select, found = [], []
    for index, name in enumerate(table.columns):
        field, column = fields[name], quote(name)
        if isinstance(field, models.DateTimeField):
            column = _datetime_text(column, sqlite=sqlite)
        elif isinstance(field, models.DateField):
            column = (
                f"({column} || '')" if sqlite else f"to_char({column}, 'YYYY-MM-DD')"
            )
        elif isinstance(field, models.BooleanField):
            found.append((index, canonical.plain_bool))
            column = f"({column} + 0)" if sqlite else column
        elif isinstance(field, models.JSONField):
            found.append((index, canonical.plain_json))
        select.append(column)
    return select, found


def table_rows(
    table: Table,
    *,
    change_set_id: int | None = None,
    ids: list[int] | None = None,
) -> Iterator[list[tuple]]:
    """The rows of `table` (of one change-set, or all of them by change-set),
    by id, in chunks, as the canonical format writes their values; with
    `ids`, only those rows of the change-set.

    Read with plain SQL (a server-side cursor on PostgreSQL) and converted
    here, column by column: the ORM's per-value converters cost more than the
    hashing.
    """
    model = table.model()
    quote = connection.ops.quote_name
    select, normalisers = _read_columns(table)
    columns = ", ".join(select)
    order_column = quote(table.change_set_column)
    id_column = quote(table.public[0])
    sql = f"SELECT {columns} FROM {quote(model._meta.db_table)}"
    if ids is not None:
        for start in range(0, len(ids), LOOKUP_SIZE):
            part = ids[start : start + LOOKUP_SIZE]
            if connection.vendor == "postgresql":
                where, params = f"{id_column} = ANY(%s::bigint[])", [part]
            else:
                where = f"{id_column} IN ({', '.join(['%s'] * len(part))})"
                params = part
            yield from _chunks(
                f"{sql} WHERE {order_column} = %s AND {where} ORDER BY {id_column}",
                [change_set_id, *params],
                normalisers,
            )
        return
    params: list[Any] = []
    if change_set_id is not None:
        sql += f" WHERE {order_column} = %s ORDER BY {id_column}"
        params.append(change_set_id)
    else:
        sql += f" ORDER BY {order_column} NULLS FIRST, {id_column}"
    yield from _chunks(sql, params, normalisers)


def _chunks(
    sql: str, params: list[Any], normalisers: list[tuple[int, Any]]
) -> Iterator[list[tuple]]:
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK_SIZE):
            if normalisers:
                rows = []
                for row in chunk:
                    row = list(row)
                    for index, normalise in normalisers:
                        if row[index] is not None:
                            row[index] = normalise(row[index])
                    rows.append(tuple(row))
                chunk = rows
            yield chunk


def table_ids(table: Table, change_set_id: int) -> list[int]:
    """The ids of the change-set's rows in `table`, in order."""
    quote = connection.ops.quote_name
    id_column = quote(table.public[0])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {id_column} FROM {quote(table.model()._meta.db_table)}"
            f" WHERE {quote(table.change_set_column)} = %s ORDER BY {id_column}",
            [change_set_id],
        )
        return [row[0] for row in cursor.fetchall()]


def manifest_of(
    change_set_id: int, keyring: Keyring, written: "Usable | None" = None
) -> tuple[bytes, dict[str, int]]:
    """The manifest of one change-set's rows, and its row count per table.

    Rows are read table by table and hashed a few thousand at a time, with the
    keys of each batch loaded (or made) in one query. The entries of rows the
    bulk writers wrote down as they wrote them (`written`) are taken as they
    are, after checking which ids the table holds for the change-set.
    """
    parts: list[bytes] = []
    rows: dict[str, int] = {}
    pending: list[tuple[Table, list[tuple]]] = []
    known_entries = written.entries if written is not None else {}
    if written is not None:
        keyring.keys.update(written.keys)

    def flush() -> list[bytes]:
        keyring.prepare(
            {
                key
                for table, chunk in pending
                for row in chunk
                if (key := table.key_of(row)) is not None
            }
        )
        made = []
        for table, chunk in pending:
            made.extend(table.entries(chunk, keyring.commit))
        pending.clear()
        return made

    waiting = 0
    for table in TABLES:
        known = known_entries.get(table.tag)
        if known:
            parts.extend(flush())
            waiting = 0
            ids = table_ids(table, change_set_id)
            missing = [row_id for row_id in ids if row_id not in known]
            if missing:
                for chunk in table_rows(
                    table, change_set_id=change_set_id, ids=missing
                ):
                    pending.append((table, chunk))
                known = {**known, **dict(zip(missing, flush(), strict=True))}
            parts.extend(map(known.__getitem__, ids))
            rows[table.tag] = len(ids)
            continue
        for chunk in table_rows(table, change_set_id=change_set_id):
            pending.append((table, chunk))
            rows[table.tag] = rows.get(table.tag, 0) + len(chunk)
            waiting += len(chunk)
            if waiting >= CHUNK_SIZE:
                parts.extend(flush())
                waiting = 0
    parts.extend(flush())
    return b"".join(parts), rows


def lock_head() -> ChainHead:
    """Lock the chain head until the transaction ends: no link is added
    meanwhile (erasure holds it while keys and commitments change)."""
    return _locked_head()


def _locked_head() -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        ChainHead.objects.get_or_create(pk=1)
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


def seal(change_set_id: int, written: "WrittenRows | None" = None) -> ChainLink | None:
    """Add the change-set to the chain as its next link (once). `written`:
    the rows the bulk writers wrote down as they wrote them (ledger.written)."""
    if not enabled():
        return None
    with transaction.atomic(using=router.db_for_write(ChainLink), savepoint=False):
        head = _locked_head()
        usable = written.usable(change_set_id) if written is not None else None
        manifest, rows = manifest_of(change_set_id, Keyring(create=True), usable)
        position = head.position + 1
        sealed_at = timezone.now()
        link_hash = canonical.link_hash(
            position=position,
            previous_hash=head.hash,
            change_set_id=change_set_id,
            rows=rows,
            manifest=manifest,
            sealed_at=sealed_at,
        )
        link = ChainLink.objects.create(
            position=position,
            change_set_id=change_set_id,
            previous_hash=head.hash,
            hash=link_hash,
            rows=rows,
            manifest=manifest,
            sealed_at=sealed_at,
        )
        ChainHead.objects.filter(pk=head.pk).update(
            position=position, hash=link_hash, sealed_at=sealed_at
        )
        return link


def unsealed_change_sets() -> Iterable[int]:
    return (
        ChangeSet.objects.filter(chain_link__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )


@dataclass
class Anchor:
    hash: str
    count: int
    sealed_at: datetime.datetime | None

    def __str__(self) -> str:
        when = canonical.plain(self.sealed_at) if self.sealed_at else "-"
        return f"{self.hash or '0' * 64} {self.count} {when}"


def anchor() -> Anchor:
    """The chain's head as "HASH COUNT TIME", for keeping outside the database."""
    head = ChainHead.objects.filter(pk=1).first()
    if head is None:
        return Anchor("", 0, None)
    return Anchor(head.hash, head.position, head.sealed_at)
