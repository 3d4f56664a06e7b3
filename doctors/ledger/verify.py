"""Walking the history chain: is every link, change-set, feed event and history
row as it was sealed?

The walk checks the links in order (each one's hash, and that it follows the
previous one), the head, an optional anchor kept outside the database, then
every row of the chained tables against the manifests of the links. A row
edited, deleted, inserted or moved to another change-set, and a link edited,
removed or put out of order, is a problem; the report names the first one
(the earliest link) with its table and row.
"""

import re
from dataclasses import dataclass, field

from ..models import ChainHead, ChainLink
from . import canonical
from .canonical import TABLE_NAMES, TABLES, Table
from .chain import Keyring, table_rows

ANCHOR_PATTERN = re.compile(r"^[0-9a-f]{64}$")
NOT_IN_CHAIN = float("inf")


@dataclass(order=True)
class Problem:
    position: float
    table_order: int
    row_id: int
    table: str = field(compare=False)
    message: str = field(compare=False)

    def __str__(self) -> str:
        where = (
            "outside the chain"
            if self.position == NOT_IN_CHAIN
            else f"link {int(self.position)}"
        )
        if self.table == "link":
            return f"{where}: {self.message}"
        return f"{where}: {TABLE_NAMES[self.table]}, row #{self.row_id}: {self.message}"


@dataclass
class Report:
    links: int = 0
    rows: int = 0
    head_hash: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return min(self.problems) if self.problems else None


_ORDER = {table.tag: index for index, table in enumerate(TABLES)}


def _problem(position, table: str, row_id, message: str) -> Problem:
    return Problem(position, _ORDER.get(table, -1), row_id or 0, table, message)


def verify(*, anchor: str | None = None) -> Report:
    """Walk the whole chain; the report lists every problem found."""
    report = Report()
    # table tag -> change-set id -> (link position, manifest part)
    expected: dict[str, dict[int, tuple[int, bytes]]] = {t.tag: {} for t in TABLES}
    previous = ""
    position = 0
    links = ChainLink.objects.order_by("position").values_list(
        "position",
        "change_set_id",
        "previous_hash",
        "hash",
        "rows",
        "manifest",
        "sealed_at",
    )
    hashes = set()
    for (
        link_position,
        change_set_id,
        previous_hash,
        link_hash,
        rows,
        manifest,
        sealed_at,
    ) in links.iterator(chunk_size=500):
        manifest = bytes(manifest)
        position += 1
        report.links += 1
        if link_position != position:
            report.problems.append(
                _problem(
                    position,
                    "link",
                    None,
                    f"link {position} is missing (the next one found is link "
                    f"{link_position}): links were deleted or reordered.",
                )
            )
            position = link_position
        if previous_hash != previous:
            report.problems.append(
                _problem(
                    position,
                    "link",
                    None,
                    f"link {position} (change-set #{change_set_id}) does not follow "
                    "the link before it: links were deleted, inserted or reordered.",
                )
            )
        recomputed = canonical.link_hash(
            position=link_position,
            previous_hash=previous_hash,
            change_set_id=change_set_id,
            rows=rows,
            manifest=manifest,
            sealed_at=sealed_at,
        )
        if recomputed != link_hash:
            report.problems.append(
                _problem(
                    position,
                    "link",
                    None,
                    f"link {position} (change-set #{change_set_id}) was edited: "
                    "its hash does not match its content.",
                )
            )
        for tag, part in canonical.sections(rows, manifest).items():
            expected[tag][change_set_id] = (position, part)
        previous = link_hash
        hashes.add(link_hash)
    report.head_hash = previous
    _check_head(report, position, previous)
    if anchor is not None:
        _check_anchor(report, anchor, hashes)
    keyring = Keyring(create=False)
    keyring.load_all()
    for table in TABLES:
        _check_table(report, table, expected[table.tag], keyring)
    return report


def _check_head(report: Report, position: int, last_hash: str) -> None:
    head = ChainHead.objects.filter(pk=1).first()
    head_position, head_hash = (head.position, head.hash) if head else (0, "")
    if (head_position, head_hash) != (position, last_hash):
        report.problems.append(
            _problem(
                min(position, head_position) + 1,
                "link",
                None,
                f"the chain head names link {head_position}, but the last link is "
                f"link {position}: links at the end were deleted or added.",
            )
        )


def _check_anchor(report: Report, anchor: str, hashes: set[str]) -> None:
    anchor = anchor.strip().lower()
    if anchor == "0" * 64 or anchor in hashes:
        return
    report.problems.append(
        _problem(
            0,
            "link",
            None,
            f"the anchor {anchor} is not in the chain: the chain was cut back to "
            "before it, or rewritten.",
        )
    )


def _check_table(
    report: Report,
    table: Table,
    expected: dict[int, tuple[int, bytes]],
    keyring: Keyring,
) -> None:
    current_set: object = object()
    group: list[tuple[int, bytes]] = []

    def finish():
        if group or current_set in expected:
            _compare(report, table, current_set, group, expected.pop(current_set, None))

    for chunk in table_rows(table):
        for row in chunk:
            change_set_id = row[table.change_set_index]
            if change_set_id != current_set:
                finish()
                current_set, group = change_set_id, []
            group.append(
                (row[0], canonical.entry(row[0], table.row_bytes(row, keyring.commit)))
            )
            report.rows += 1
    finish()
    for change_set_id, (position, part) in expected.items():
        if part:
            first_id = next(canonical.entries(part))[0]
            report.problems.append(
                _problem(
                    position,
                    table.tag,
                    first_id,
                    f"deleted (it was written by change-set #{change_set_id}).",
                )
            )


def _compare(report, table: Table, change_set_id, group, sealed) -> None:
    if sealed is None:
        row_id = group[0][0]
        if change_set_id is None:
            why = "it belongs to no change-set, so it was never sealed"
        else:
            why = (
                f"its change-set #{change_set_id} is not in the chain (inserted, "
                "or its writer stopped before sealing it: see manage.py "
                "seal_history)"
            )
        more = f"; {len(group) - 1} more such rows" if len(group) > 1 else ""
        report.problems.append(
            _problem(NOT_IN_CHAIN, table.tag, row_id, f"not in the chain: {why}{more}.")
        )
        return
    position, part = sealed
    want = dict(canonical.entries(part))
    have = {row_id: entry[8:] for row_id, entry in group}
    for row_id in sorted(want.keys() | have.keys()):
        if row_id not in have:
            message = f"deleted (it was written by change-set #{change_set_id})."
        elif row_id not in want:
            message = (
                f"inserted into change-set #{change_set_id} (or moved there from "
                "another change-set)."
            )
        elif have[row_id] != want[row_id]:
            message = "edited since it was sealed."
        else:
            continue
        report.problems.append(_problem(position, table.tag, row_id, message))
        return  # the first difference of this change-set in this table
