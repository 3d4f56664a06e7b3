"""How a row is written down for the history chain: deterministic bytes.

Version 1 of the format ("clinic-history-chain/1"):

- A row is the JSON text of a list: the table's tag, then the listed columns in
  the order below. JSON with no spaces (separators "," and ":"), object keys
  sorted, non-ASCII written as \\u escapes, encoded as UTF-8.
- A date-time is written in UTC as "YYYY-MM-DDTHH:MM:SS.ffffffZ", a date as
  "YYYY-MM-DD"; numbers, text, true/false and null are JSON's own; the JSON
  columns (an event's changes and counts, a change-set's counts) are their
  JSON value. SQLite and PostgreSQL give the same bytes.
- Personal values are not written themselves but as one keyed commitment per
  row: the hex HMAC-SHA256, under the doctor's (or the change-set's) random
  key, of the JSON text of [tag, row id, the personal values...]; a row whose
  personal values are all empty (null or "") commits to "" with no key.
  Erasure deletes the key and the values and keeps the commitment
  (ErasedCommitment), so the row's bytes, and the chain, stay the same.
- Which user acted (actor_id, history_user_id) is left out: deleting a user
  sets those to null. The change-set's `who` (actor_name) is in.
- A link lists the rows of its change-set, table by table (changeset, event,
  doctor, department, membership), each table by id: 8 bytes of id (big
  endian) and the first 16 bytes of the SHA-256 of the row's bytes. The link's
  hash is the SHA-256 of the JSON text of [format, position, previous hash,
  change-set id, rows per table, SHA-256 of the manifest, sealed at].

Adding a column to a chained table does not change old links: a new column
is in the chain only once a new version of this format lists it, or as a
trailing column: written after the commitment as one object of the trailing
columns that are set ({"left_on": "YYYY-MM-DD"} for a membership period's
last day), and left out when none is, so rows written before the column
existed keep their bytes and a row's trailing values cannot be added,
changed or removed unnoticed.
"""

import datetime
import functools
import hashlib
import hmac
import json
import json.encoder
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

FORMAT = "clinic-history-chain/1"
ENTRY_SIZE = 24  # 8 bytes of id, 16 of hash
_ID = struct.Struct(">Q")

# The personal values of a doctor (ActivityEvent.changes names them the same).
PERSONAL_DOCTOR_FIELDS = ("license_number", "first_name", "last_name", "email", "phone")
_PERSONAL_SET = frozenset(PERSONAL_DOCTOR_FIELDS)

_encoder = json.JSONEncoder(
    ensure_ascii=True, sort_keys=True, separators=(",", ":"), allow_nan=False
)
_UTC = datetime.UTC
try:  # hmac.digest's own fast path, without its checks on every call
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # pragma: no cover (Python built without OpenSSL)
    _hmac_digest = hmac.digest


# The same C encoder `_encoder.encode` builds on every call, built once (no
# circular-reference check: the values come from the database's rows and JSON
# columns, which cannot refer to themselves). The bytes are the same.
_c_encode = (
    json.encoder.c_make_encoder(
        None,
        _encoder.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        True,
        False,
        False,
    )
    if json.encoder.c_make_encoder is not None
    else None
)


def dumps(value: Any) -> bytes:
    if _c_encode is None or isinstance(value, str):
        return _encoder.encode(value).encode()
    return "".join(_c_encode(value, 0)).encode()


def plain_datetime(value: Any) -> str:
    """A date-time as the format writes it, from a datetime (PostgreSQL, the
    ORM) or from SQLite's stored text ("YYYY-MM-DD HH:MM:SS[.ffffff]", UTC)."""
    if isinstance(value, str):
        fraction = value[20:26] if value[19:20] == "." else ""
        return f"{value[:10]}T{value[11:19]}.{fraction:0<6}Z"
    if value.utcoffset():
        value = value.astimezone(_UTC)
    return value.isoformat(timespec="microseconds")[:26] + "Z"


def plain_date(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


def plain_bool(value: Any) -> bool:
    return bool(value)


def plain_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def plain(value: Any) -> Any:
    """A value as the format writes it, whatever its Python type."""
    if isinstance(value, datetime.datetime):
        return plain_datetime(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, memoryview | bytes):
        return bytes(value).hex()
    return value


# commit(table, row id, key kind, key object id, personal values) -> hex
Commit = Callable[[str, int, str, int, list[Any]], str]


def commitment(key: bytes, table: str, row_id: int, values: list[Any]) -> str:
    return _hmac_digest(key, dumps([table, row_id, *values]), "sha256").hex()


@dataclass(frozen=True)
class Table:
    """A chained table: what is hashed as it is and what is committed."""

    tag: str
    # The row's id first; the columns hashed as they are.
    public: tuple[str, ...]
    # Columns committed under a key, and the column naming the key's object.
    personal: tuple[str, ...] = ()
    key_kind: str = ""
    key_column: str = ""
    # The column that says which change-set wrote the row.
    change_set_column: str = "change_set_id"
    # Columns added to the table after links were sealed: written after the
    # commitment, as one object of those that are set, and not at all when
    # none is (so the rows sealed before they existed keep their bytes).
    trailing: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.public, *self.personal, *self.trailing)

    @functools.cached_property
    def width(self) -> int:
        return len(self.public)

    @functools.cached_property
    def personal_end(self) -> int:
        return len(self.public) + len(self.personal)

    def trailing_values(self, row: tuple) -> list[dict[str, Any]]:
        """[{name: value}] of the trailing columns set, or [] when none is."""
        if not self.trailing:
            return []
        values = row[self.personal_end :]
        found = {
            name: value
            for name, value in zip(self.trailing, values, strict=True)
            if value is not None
        }
        return [found] if found else []

    @functools.cached_property
    def key_index(self) -> int:
        return self.public.index(self.key_column) if self.key_column else -1

    @functools.cached_property
    def change_set_index(self) -> int:
        return self.public.index(self.change_set_column)

    def model(self):
        from ..models import ActivityEvent, ChangeSet, Department, Doctor, Membership

        return {
            "changeset": ChangeSet,
            "event": ActivityEvent,
            "doctor": Doctor.history.model,
            "department": Department.history.model,
            "membership": Membership.history.model,
        }[self.tag]

    def key_of(self, row: tuple) -> tuple[str, int] | None:
        """Which key commits this row's personal values (None: no personal
        values, or no object to hold the key)."""
        if not self.personal:
            return None
        object_id = row[self.key_index]
        if object_id is None or not any(row[self.width : self.personal_end]):
            return None
        return (self.key_kind, object_id)

    def sealed_personal(self, row: tuple, commit: Commit) -> str | None:
        """The keyed commitment of the row's personal values: "" when they
        are all empty, None when the table has none."""
        if not self.personal:
            return None
        key = self.key_of(row)
        values = row[self.width : self.personal_end]
        if key is None:
            # All empty (nothing to commit), or no object to hold a key (a
            # row written outside any change-set): the values as they are.
            return "" if not any(values) else dumps(list(values)).decode()
        return commit(self.tag, row[0], *key, list(values))

    def row_bytes(self, row: tuple, commit: Commit) -> bytes:
        """The row's bytes, from a row as `chain.table_rows` reads it."""
        if not self.personal:
            return dumps([self.tag, *row])
        return dumps(
            [
                self.tag,
                *row[: self.width],
                self.sealed_personal(row, commit),
                *self.trailing_values(row),
            ]
        )

    def entries(
        self,
        rows: Iterable[tuple],
        commit: Commit,
        keys: dict[tuple[str, int], bytes] | None = None,
    ) -> list[bytes]:
        """The manifest entries of `rows`: `entry(row[0], row_bytes(row))`
        each, with the per-row steps of `row_bytes` written out in one loop
        (sealing an import goes through hundreds of thousands of rows). With
        `keys` (every row's key there, no erased commitment among the rows)
        the commitments are made here rather than through `commit`."""
        tag, width, kind, key_index = self.tag, self.width, self.key_kind, -1
        end, trailing = self.personal_end, self.trailing
        if self.personal:
            key_index = self.key_index
        pack, sha256, digest, out = _ID.pack, hashlib.sha256, _hmac_digest, []
        # The commitment's text, [tag, row id, values...], put together from
        # the JSON of the values (rows of a bulk write share them: the
        # reason) and of the id, a whole number (JSON writes it as str does).
        opening, texts = f"[{dumps(tag).decode()},".encode(), {}
        for row in rows:
            if key_index < 0:
                data = dumps([tag, *row])
            else:
                row_id = row[0]
                values = row[width:end]
                object_id = row[key_index]
                if not any(values):
                    sealed = ""
                elif object_id is None:
                    sealed = dumps(list(values)).decode()
                elif keys is not None and type(row_id) is int:
                    text = texts.get(values)
                    if text is None:
                        text = texts[values] = b"," + dumps(list(values))[1:]
                    text = b"%s%d%s" % (opening, row_id, text)
                    sealed = digest(keys[(kind, object_id)], text, "sha256").hex()
                else:
                    sealed = commit(tag, row_id, kind, object_id, list(values))
                head = [tag, *row[:width], sealed]
                if trailing and any(value is not None for value in row[end:]):
                    head.extend(self.trailing_values(row))
                data = dumps(head)
            out.append(pack(row[0]) + sha256(data).digest()[:16])
        return out


class EventTable(Table):
    """Feed events: for an event about a doctor, its text and the personal
    values in its changes are committed under the doctor's key; the rest of
    the changes (roles, dates, departments) is hashed as it is."""

    def key_of(self, row: tuple) -> tuple[str, int] | None:
        target_type, target_id = row[6], row[7]
        if target_type == "doctor" and target_id is not None:
            return ("doctor", target_id)
        return None

    def personal_values(self, row: tuple) -> list[Any]:
        changes = row[self.CHANGES] or {}
        personal = {k: v for k, v in changes.items() if k in _PERSONAL_SET}
        return [row[self.TEXT], personal]

    # Positions in `public` of target_text and changes.
    TEXT, CHANGES = 8, 10

    def entries(self, rows, commit, keys=None):  # as Table.entries
        if keys is not None:

            def commit(tag, row_id, kind, object_id, values):  # noqa: F811
                return commitment(keys[(kind, object_id)], tag, row_id, values)

        return [entry(row[0], self.row_bytes(row, commit)) for row in rows]

    def sealed_personal(self, row: tuple, commit: Commit) -> str | None:
        key = self.key_of(row)
        if key is None:
            return None
        return commit(self.tag, row[0], *key, self.personal_values(row))

    def row_bytes(self, row: tuple, commit: Commit) -> bytes:
        sealed = self.sealed_personal(row, commit)
        if sealed is None:
            return dumps([self.tag, *row])
        values = list(row)
        changes = values[self.CHANGES] or {}
        values[self.CHANGES] = {
            k: v for k, v in changes.items() if k not in _PERSONAL_SET
        }
        del values[self.TEXT]
        return dumps([self.tag, *values, sealed])


_HISTORY = ("history_date", "history_type", "change_set_id")

CHANGE_SETS = Table(
    tag="changeset",
    public=(
        "id",
        "actor_name",
        "source",
        "started_at",
        "ended_at",
        "counts",
        "undoes_id",
    ),
    personal=("description", "reason"),
    key_kind="changeset",
    key_column="id",
    change_set_column="id",
)
EVENTS = EventTable(
    tag="event",
    public=(
        "id",
        "occurred_at",
        "actor_name",
        "source",
        "verb",
        "change_set_id",
        "target_type",
        "target_id",
        "target_text",
        "department_id",
        "changes",
        "department_text",
        "counts",
    ),
)
# A history row's reason is free text typed by staff: committed like the
# personal values (under the doctor's key, or the change-set's for a
# department), so erasure can take a doctor's name out of it.
DOCTORS = Table(
    tag="doctor",
    public=("history_id", "id", "specialty", "is_active", "created_at", *_HISTORY),
    personal=(*PERSONAL_DOCTOR_FIELDS, "history_change_reason"),
    key_kind="doctor",
    key_column="id",
)
DEPARTMENTS = Table(
    tag="department",
    public=(
        "history_id",
        "id",
        "code",
        "name",
        "description",
        "is_active",
        "created_at",
        "updated_at",
        *_HISTORY,
    ),
    personal=("history_change_reason",),
    key_kind="changeset",
    key_column="change_set_id",
)
MEMBERSHIPS = Table(
    tag="membership",
    public=(
        "history_id",
        "id",
        "doctor_id",
        "department_id",
        "role",
        "joined_on",
        "is_primary",
        *_HISTORY,
    ),
    personal=("history_change_reason",),
    key_kind="doctor",
    key_column="doctor_id",
    # A period's last day (memberships became periods after version 1).
    trailing=("left_on",),
)
TABLES: tuple[Table, ...] = (CHANGE_SETS, EVENTS, DOCTORS, DEPARTMENTS, MEMBERSHIPS)
TABLE_NAMES = {
    "changeset": "change-sets",
    "event": "feed events",
    "doctor": "doctor history",
    "department": "department history",
    "membership": "membership history",
}


def entry(row_id: int, row_bytes: bytes) -> bytes:
    return _ID.pack(row_id) + hashlib.sha256(row_bytes).digest()[:16]


def entries(manifest: bytes) -> Iterator[tuple[int, bytes]]:
    view = memoryview(manifest)
    for start in range(0, len(view), ENTRY_SIZE):
        (row_id,) = _ID.unpack_from(view, start)
        yield row_id, bytes(view[start + 8 : start + ENTRY_SIZE])


def sections(rows: dict[str, int], manifest: bytes) -> dict[str, bytes]:
    """The manifest cut into its tables' parts."""
    parts, start = {}, 0
    for table in TABLES:
        end = start + rows.get(table.tag, 0) * ENTRY_SIZE
        parts[table.tag] = manifest[start:end]
        start = end
    return parts


def link_hash(
    *,
    position: int,
    previous_hash: str,
    change_set_id: int,
    rows: dict[str, int],
    manifest: bytes,
    sealed_at: datetime.datetime,
) -> str:
    header = [
        FORMAT,
        position,
        previous_hash,
        change_set_id,
        rows,
        hashlib.sha256(manifest).hexdigest(),
        plain(sealed_at),
    ]
    return hashlib.sha256(dumps(header)).hexdigest()


# How a column's value is written down, by the type the database reads it
# back as (Plan): "datetime", "date", "bool", "int" or "str".
Plan = tuple[tuple[int, str, bool], ...]  # (index in the source row, kind, nullable)


def rows_from_values(plan: Plan, rows: list[tuple]) -> list[tuple] | None:
    """`rows` of written values (Python's own types) as `chain.table_rows`
    reads them back: the plan's columns in its order, date-times and dates as
    text. None when a value's type is not the one its column is read back as
    (a naive date-time, a string in a number column).

    Column by column (each checked by the set of its values' types, each
    distinct date-time converted once): rows by the hundred thousand.
    """
    try:
        values = list(zip(*rows, strict=True))
    except ValueError:
        return None
    if not values:
        return []
    out = []
    for index, kind, nullable in plan:
        column = values[index]
        types = set(map(type, column))
        if nullable:
            types.discard(type(None))
        if kind == "datetime":
            if types - {datetime.datetime}:
                return None
            texts = {}
            for value in set(column):
                if value is None:
                    texts[value] = None
                elif value.tzinfo is None:
                    return None
                else:
                    texts[value] = plain_datetime(value)
            column = list(map(texts.__getitem__, column))
        elif kind == "date":
            if types - {datetime.date}:
                return None
            texts = {v: None if v is None else v.isoformat() for v in set(column)}
            column = list(map(texts.__getitem__, column))
        elif types - {_KINDS[kind]}:
            return None
        out.append(column)
    return list(zip(*out, strict=True))


_KINDS = {"bool": bool, "int": int, "str": str}


def keys_needed(table: Table, rows: Iterable[tuple]) -> set[tuple[str, int]]:
    return {key for row in rows if (key := table.key_of(row)) is not None}
