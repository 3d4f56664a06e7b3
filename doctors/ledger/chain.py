"""Adding links to the history chain, and reading its head.

A change-set is sealed when it closes (doctors.context), in one transaction:
lock the chain head, read back the rows stamped with the change-set, write one
link and move the head. Bulk paths therefore add one link per change-set,
whatever the number of rows. The head row is locked with SELECT ... FOR
UPDATE on PostgreSQL; SQLite's IMMEDIATE write transactions already run one
at a time. Concurrent writers thus make one linear chain.
"""

import datetime
import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import router, transaction
from django.db.models import F
from django.utils import timezone

from ..models import ChainHead, ChainLink, ChangeSet, ErasedCommitment, PersonalDataKey
from . import canonical
from .canonical import TABLES, Table

CHUNK_SIZE = 5000


def enabled() -> bool:
    """HISTORY_CHAIN (on by default) switches sealing off, for measuring what
    the chain costs; a chain left off while data changes no longer verifies."""
    return bool(getattr(settings, "HISTORY_CHAIN", True))


class Keyring:
    """The keys of the keyed commitments, and the commitments erasure kept.

    `create` (sealing) makes a random key for a doctor or change-set that has
    none yet; verification never makes keys.
    """

    def __init__(self, *, create: bool):
        self.create = create
        self.keys: dict[tuple[str, int], bytes] = {}
        self.erased: dict[tuple[str, int], str] = {}
        self.missing: set[tuple[str, int]] = set()
        self._any_erased = ErasedCommitment.objects.exists()

    def load_all(self) -> None:
        for kind, object_id, key in PersonalDataKey.objects.values_list(
            "kind", "object_id", "key"
        ).iterator(chunk_size=CHUNK_SIZE):
            self.keys[(kind, object_id)] = bytes(key)
        for table, row_id, commitment in ErasedCommitment.objects.values_list(
            "table", "row_id", "commitment"
        ).iterator(chunk_size=CHUNK_SIZE):
            self.erased[(table, row_id)] = commitment
        self._any_erased = False  # all loaded

    def prepare(self, table: Table, rows: list[tuple]) -> None:
        """Load (or make) the keys that `rows` need."""
        needed = canonical.keys_needed(table, rows) - self.keys.keys()
        if needed:
            self._load_keys(needed)
        if self._any_erased and (table.personal or table.tag == "event"):
            for row_id, commitment in ErasedCommitment.objects.filter(
                table=table.tag, row_id__in=[row[0] for row in rows]
            ).values_list("row_id", "commitment"):
                self.erased[(table.tag, row_id)] = commitment

    def _load_keys(self, needed: set[tuple[str, int]]) -> None:
        by_kind: dict[str, list[int]] = {}
        for kind, object_id in needed:
            by_kind.setdefault(kind, []).append(object_id)
        for kind, ids in by_kind.items():
            self._read_keys(kind, ids)
            absent = [i for i in ids if (kind, i) not in self.keys]
            if absent and self.create:
                PersonalDataKey.objects.bulk_create(
                    [
                        PersonalDataKey(kind=kind, object_id=i, key=os.urandom(32))
                        for i in absent
                    ],
                    batch_size=2000,
                    ignore_conflicts=True,
                )
                self._read_keys(kind, absent)

    def _read_keys(self, kind: str, ids: list[int]) -> None:
        for start in range(0, len(ids), 2000):
            for object_id, key in PersonalDataKey.objects.filter(
                kind=kind, object_id__in=ids[start : start + 2000]
            ).values_list("object_id", "key"):
                self.keys[(kind, object_id)] = bytes(key)

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


def table_rows(table: Table, **filters) -> Iterator[list[tuple]]:
    """The rows of `table` matching `filters`, by change-set then id, in chunks."""
    column = table.change_set_column
    queryset = (
        table.model()
        ._base_manager.filter(**filters)
        .order_by(F(column).asc(nulls_first=True), table.public[0])
        .values_list(*table.columns)
    )
    return itertools.batched(queryset.iterator(chunk_size=CHUNK_SIZE), CHUNK_SIZE)


def manifest_of(change_set_id: int, keyring: Keyring) -> tuple[bytes, dict[str, int]]:
    """The manifest of one change-set's rows, and its row count per table."""
    parts: list[bytes] = []
    rows: dict[str, int] = {}
    for table in TABLES:
        count = 0
        for chunk in table_rows(table, **{table.change_set_column: change_set_id}):
            keyring.prepare(table, chunk)
            for row in chunk:
                parts.append(
                    canonical.entry(row[0], table.row_bytes(row, keyring.commit))
                )
            count += len(chunk)
        if count:
            rows[table.tag] = count
    return b"".join(parts), rows


def _locked_head() -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        ChainHead.objects.get_or_create(pk=1)
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


def seal(change_set_id: int) -> ChainLink | None:
    """Add the change-set to the chain as its next link (once)."""
    if not enabled():
        return None
    with transaction.atomic(using=router.db_for_write(ChainLink)):
        head = _locked_head()
        if ChainLink.objects.filter(change_set_id=change_set_id).exists():
            return None
        manifest, rows = manifest_of(change_set_id, Keyring(create=True))
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
