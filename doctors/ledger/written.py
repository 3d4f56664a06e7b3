"""History rows written down for the chain as the bulk writers write them.

Sealing a change-set reads its rows back and writes each down in the
canonical form (chain.table_rows): for a 100,000-row import, reading its
300,000 history rows back cost more than half as much as hashing them. The
bulk writers already hold every value they write, so
`doctors.bulk.insert_history_rows` draws the history ids before its INSERT
and hands the rows here; each row's canonical form and manifest entry are
made at once, and sealing only reads which ids the change-set holds, reading
back in full the rows not written down here.

What is written down here must give the very bytes reading back would give:
a value of a type this module does not know for its column (a naive
date-time, a string in a number column) leaves its whole batch to be read
back. Personal values are committed only under keys made here, for objects
the change-set creates (`make_keys`: the doctors an import adds); a row
under a key from before is read back, as that key could be erased before the
seal. Everything written down is dropped, and the change-set read back as
before, when a savepoint it was written in is rolled back, when any doctor
was erased since the first key was made, or when a key made here turns out
to exist already.

Past a few thousand rows, a change-set's batches are hashed in a child
process beside the writer (`hasher`); what it cannot hash is read back.
"""

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import connections, models, router

from .. import current_change, on_commit
from ..models import ChainLink, Erasure
from . import canonical, hasher
from .canonical import TABLES, Table
from .hasher import Hasher


def make_keys(kind: str, object_ids: Sequence[int]) -> None:
    """Keys for objects the current change-set creates (new doctors), made
    now so their rows can be written down as they are written; stored when
    the change-set is sealed."""
    from . import chain

    change = current_change.get()
    if change is None or not chain.enabled() or not object_ids:
        return
    if getattr(change, "written", None) is None:
        change.written = WrittenRows()
    change.written.make_keys(kind, object_ids)


@dataclass
class _Batch:
    table: Table
    change_set_id: int
    # By row id; None while the hasher holds the batch (`number`).
    entries: dict[int, bytes] | None
    number: int | None = None
    committed: bool = False
    marker: Callable[[], None] | None = None


@dataclass
class Usable:
    """What sealing may use: entries by table tag, and the keys made here."""

    entries: dict[str, dict[int, bytes]] = field(default_factory=dict)
    keys: dict[tuple[str, int], bytes] = field(default_factory=dict)


class WrittenRows:
    """The rows of one change context written down so far."""

    def __init__(self):
        self.keys: dict[tuple[str, int], bytes] = {}
        self.batches: list[_Batch] = []
        self.erasures_before: int | None = None
        self.using = router.db_for_write(ChainLink)
        self.tables = {}
        for table in TABLES:
            self.tables[table.model()] = table
        self.plans: dict[tuple, canonical.Plan | None] = {}
        # Rows written down so far; past hasher.APART_AFTER the rest go to a
        # child process (`hasher`), with the keys it has not seen yet.
        self.rows = 0
        self.hasher: Hasher | None = None
        self.unsent_keys: list[tuple[tuple[str, int], bytes]] = []

    def make_keys(self, kind: str, object_ids: Sequence[int]) -> None:
        kind = str(kind)  # a choice's value (the hasher takes plain types)
        if self.erasures_before is None:
            self.erasures_before = _last_erasure()
        fresh = [i for i in object_ids if (kind, i) not in self.keys]
        random = os.urandom(32 * len(fresh))
        for n, object_id in enumerate(fresh):
            key = random[n * 32 : n * 32 + 32]
            self.keys[(kind, object_id)] = key
            self.unsent_keys.append(((kind, object_id), key))

    def wants(self, model: type[models.Model]) -> bool:
        """Whether rows of `model` are to be written down (their ids drawn
        before the INSERT)."""
        from . import chain

        connection = connections[self.using]
        return (
            bool(self.keys)
            and model in self.tables
            and connection.vendor in ("postgresql", "sqlite")
            and connection.in_atomic_block
            and chain.enabled()
        )

    def add(self, model: type[models.Model], columns: Sequence[str], rows) -> None:
        """Write down `rows` of `model` (its history model), each the id then
        the values of `columns`, as just inserted."""
        table = self.tables[model]
        plan = self._plan(table, model, tuple(columns))
        if plan is None or not rows:
            return
        change_set_index = plan[table.change_set_index][0]
        change_set_ids = {row[change_set_index] for row in rows}
        if len(change_set_ids) != 1 or None in change_set_ids:
            return
        batch = _Batch(table, change_set_ids.pop(), None)
        self.rows += len(rows)
        if self.hasher is None and self.rows > hasher.APART_AFTER:
            self.hasher = Hasher.start()
        if self.hasher is not None:
            batch.number = self.hasher.send(table, plan, rows, self.unsent_keys)
            if batch.number is not None:
                self.unsent_keys = []
        if batch.number is None:
            batch.entries = hasher.entries_of(table, plan, rows, self.keys)
            if batch.entries is None:
                return

        def committed():
            batch.committed = True

        batch.marker = committed
        connections[self.using].on_commit(committed)
        self.batches.append(batch)

    def _plan(self, table: Table, model, columns: tuple[str, ...]):
        if (model, columns) not in self.plans:
            self.plans[(model, columns)] = column_plan(table, model, columns)
        return self.plans[(model, columns)]

    def usable(self, change_set_id: int) -> Usable | None:
        """What sealing `change_set_id` may take (None: read it all back).
        Called under the chain head's lock; stores the keys made here."""
        answers = self._answers()
        batches = [b for b in self.batches if b.change_set_id == change_set_id]
        self.batches = []
        if not batches or not all(
            batch.committed or on_commit.is_pending(batch.marker, self.using)
            for batch in batches
        ):
            return None
        if _last_erasure() != self.erasures_before:
            return None
        from .chain import insert_new_keys

        made = sorted((kind, i, key) for (kind, i), key in self.keys.items())
        if insert_new_keys(made) != len(made):
            return None  # a key existed already: its rows were committed under it
        usable = Usable(keys=dict(self.keys))
        for batch in batches:
            entries = batch.entries
            if batch.number is not None:
                entries = None if answers is None else answers.get(batch.number)
            if entries:  # else its rows are read back
                usable.entries.setdefault(batch.table.tag, {}).update(entries)
        return usable

    def _answers(self) -> dict[int, dict[int, bytes] | None] | None:
        if self.hasher is None:
            return None
        answers = self.hasher.answers()
        self.hasher = None
        return answers

    def close(self) -> None:
        """End the hasher, if one runs (the change context ended unsealed)."""
        if self.hasher is not None:
            self.hasher.close()
            self.hasher = None


def _last_erasure() -> int:
    return Erasure.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


_INTEGER_FIELDS = (models.IntegerField, models.AutoField, models.BigAutoField)


def _kind_of(field: models.Field) -> str | None:
    """How a column's value is written down: by the type the database
    reads it back as."""
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, _INTEGER_FIELDS):
        return "int"
    if isinstance(field, models.CharField | models.TextField):
        return "str"
    return None


def column_plan(
    table: Table, model: type[models.Model], columns: Sequence[str]
) -> canonical.Plan | None:
    """Where each of the table's columns is in rows of the id then `columns`,
    and how its value is written down (canonical.rows_from_values); None when
    a column is missing or of a type this module does not know."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    source = [model._meta.pk.attname, *columns]
    plan = []
    for name in table.columns:
        if name not in source:
            return None
        field = fields[name]
        kind = _kind_of(field)
        if kind is None:
            return None
        plan.append((source.index(name), kind, field.null))
    return tuple(plan)
