"""Running a memberships import: the doctors import's two passes, for periods.

Pass 1 reads the file once through the same readers (every format, within
their limits), checks every row and, per chunk, the doctors it names; the
clean rows wait in a spool. The rules are then checked on the state after the
whole file (checking.MembershipChecker.finish). Only when nothing is wrong
does pass 2 read the spool back: it plans each chunk against the database and
narrows the periods to correct (writing.py, step one), then writes the new and
corrected periods (step two), all in one transaction under the tables' lock.
A dry run is pass 1 plus the plans, for the preview; it writes nothing.

The run itself (doctors.importing.runner.run_import, which calls this
module's passes through MEMBERSHIPS.passes), the result, the run record and
the stale-row check on confirm are the doctors import's, so the run pages,
the undo and the commands treat a memberships run like any other.
"""

import datetime
from dataclasses import dataclass
from typing import BinaryIO

from django.utils import timezone

from ...models import Doctor, ImportRun, Membership
from ...runs.spool import Spool
from ..diff import FINGERPRINT_SIZE
from ..parsing import ImportFileError
from ..readers.sources import read_rows
from ..runner import (
    CHECKING,
    WRITING,
    ImportResult,
    Passes,
    add_plan,
    run_import,
)
from .checking import MembershipChecker, PeriodRow
from .planning import PeriodPlan, period_key, plan_period_chunk
from .values import MEMBERSHIP_COLUMNS
from .writing import PeriodWriter


@dataclass(frozen=True)
class MembershipsKind:
    """What the run service and the admin pages ask of a kind of import."""

    name: str
    columns: tuple[str, ...]
    target_type: str
    locked: tuple[type, ...]

    @property
    def passes(self) -> type:
        """The class running the two passes, which the doctors import's
        run_import calls with the same arguments as its own."""
        return _Passes


# Doctors are locked too, and first, as the doctors import locks them: a
# doctor deleted meanwhile would take periods with it.
MEMBERSHIPS = MembershipsKind(
    ImportRun.Kind.MEMBERSHIPS, MEMBERSHIP_COLUMNS, "membership", (Doctor, Membership)
)


def import_memberships(stream: BinaryIO, **options) -> ImportResult:
    """Import a memberships file; options as doctors.importing.runner.run_import."""
    return run_import(MEMBERSHIPS, stream, **options)


class _Passes(Passes):
    """The doctors import's passes (check_and_write: the lock, the savepoint,
    the feed event) with a memberships file's check and write."""

    def check(self, expected_rows: int | None) -> None:
        """Pass 1: every row checked, its doctor looked up; clean rows spooled
        (confirmed runs) or planned (dry runs); then the rules on the whole
        file."""
        result = self.result
        checker = self.checker = MembershipChecker()
        chunk: list[PeriodRow] = []

        def flush():
            if not chunk:
                return
            checker.check_against_database(chunk)
            known = [row for row in chunk if row.doctor_id is not None]
            if result.dry_run:
                if known and not checker.problem_count:
                    add_plan(result, plan_period_chunk(known, codes=checker.codes))
            else:
                self.spool.write([_as_tuple(row) for row in known])
            chunk.clear()

        try:
            for row in read_rows(self.csv_source):
                clean = checker.check_row(row)
                if clean is not None:
                    chunk.append(clean)
                    if len(chunk) >= self.chunk_size:
                        flush()
                if checker.rows_seen % 1000 == 0:
                    self.report(CHECKING, checker.rows_seen, expected_rows)
            flush()
        except ImportFileError as error:
            checker.add(error.row, "", error.message, always=True)
        else:
            checker.finish()
        self.report(CHECKING, checker.rows_seen, checker.rows_seen)
        result.total_rows = checker.rows_seen
        self._take_problems()
        if not result.ok:
            # A refused file's preview lists problems, not what it would do.
            result.created = result.updated = result.unchanged = 0
            result.row_changes = []
            result.seen = bytearray()

    def _write(self, actor) -> None:
        """Pass 2: plan and narrow every chunk (step one), then write them
        (step two); see writing.py."""
        result = self.result
        writer = PeriodWriter(
            now=timezone.now(),
            user_id=actor.pk if actor is not None else None,
            reason=f"Import of {result.file_name}",
        )
        codes = self.checker.codes
        done = 0
        self.report(WRITING, 0, result.total_rows)
        with Spool() as planned:
            for rows in _spooled(self.spool):
                plan = plan_period_chunk(rows, codes=codes)
                if not self._unchanged_since_preview(rows, plan, done, codes):
                    return
                writer.narrow(plan)
                planned.write(_plan_tuple(plan))
                add_plan(result, plan)
                done += len(rows)
            for values in planned.chunks():
                writer.write(_plan_from_tuple(values))
                self.report(WRITING, writer.created + writer.updated, result.total_rows)
        self.report(WRITING, result.total_rows, result.total_rows)

    def _unchanged_since_preview(
        self, rows: list[PeriodRow], plan: PeriodPlan, offset: int, codes
    ) -> bool:
        """Whether this chunk's periods are stored as the preview saw them,
        with a problem for each that is not."""
        expected = self.expected_seen
        if expected is None:
            return True
        size = FINGERPRINT_SIZE
        for position, (row, now) in enumerate(zip(rows, plan.seen, strict=True)):
            start = (offset + position) * size
            if expected[start : start + size] == now:
                continue
            self.result.stale_rows += 1
            key = period_key(
                row.license_number, codes[row.department_id], row.joined_on
            )
            self.checker.add(
                row.row,
                "joined_on",
                f"the period {key}"
                " changed in the database since the preview (or was added or "
                "deleted); preview the file again to see what the import would "
                "do now",
            )
        self._take_problems()
        return not self.result.stale_rows


def _as_tuple(row: PeriodRow) -> tuple:
    return (
        row.row,
        row.license_number,
        row.department_id,
        row.role,
        row.is_primary,
        row.joined_on.isoformat(),
        row.left_on.isoformat() if row.left_on else None,
        row.doctor_id,
    )


def _spooled(spool: Spool):
    for chunk in spool.chunks():
        yield [
            PeriodRow(
                number,
                license_number,
                department_id,
                role,
                is_primary,
                datetime.date.fromisoformat(joined_on),
                datetime.date.fromisoformat(left_on) if left_on else None,
                doctor_id,
            )
            for (
                number,
                license_number,
                department_id,
                role,
                is_primary,
                joined_on,
                left_on,
                doctor_id,
            ) in chunk
        ]


def _plain(values: tuple) -> tuple:
    return tuple(
        ("d", value.isoformat()) if isinstance(value, datetime.date) else value
        for value in values
    )


def _typed(values) -> tuple:
    return tuple(
        datetime.date.fromisoformat(value[1]) if isinstance(value, tuple) else value
        for value in values
    )


def _plan_tuple(plan: PeriodPlan) -> tuple:
    """What step two needs of a plan, in marshal's types."""
    return (
        [_plain(values) for values in plan.creates],
        [_plain(values) for values in plan.updates],
    )


def _plan_from_tuple(values: tuple) -> PeriodPlan:
    creates, updates = values
    return PeriodPlan(
        creates=[_typed(row) for row in creates],
        updates=[_typed(row) for row in updates],
    )
