"""Running an import: check every row, then write everything, or nothing.

Pass 1 reads the file once, checks every row (collecting every problem) and the
database per chunk, and spools the clean rows to a temporary file as plain
tuples. Only when no row has a problem does pass 2 read the spool back and
write chunk by chunk, all in one transaction. Memory stays flat whatever the
file's size: one chunk of rows, plus the keys that cross-row checks need.

A dry run is pass 1 plus the comparison with the database (for the preview);
it writes nothing, sends no signal and queues nothing.
"""

import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import activity, context, dashboard, tasks
from ..integrity import explain_integrity_error
from ..models import ActivityEvent, Department, Doctor, ImportRun, Membership
from ..resources import DEPARTMENT_COLUMNS, DOCTOR_COLUMNS
from ..runs.locks import lock_tables
from ..runs.progress import Progress
from ..runs.spool import Spool
from .diff import (
    FINGERPRINT_SIZE,
    RowChange,
    plan_department_chunk,
    plan_doctor_chunk,
)
from .parsing import ImportFileError
from .readers.sources import open_source, read_rows
from .validation import (
    MAX_PROBLEMS,
    DepartmentChecker,
    DepartmentRow,
    DoctorChecker,
    DoctorRow,
    Problem,
)
from .writer import DepartmentWriter, DoctorWriter

CHUNK_SIZE = 2000
PREVIEW_ROWS = 500

# progress(phase, rows done, rows in total or None while unknown)
CHECKING = "checking"
WRITING = "writing"


@dataclass
class ImportResult:
    kind: str
    file_name: str
    dry_run: bool
    encoding: str = ""
    file_format: str = ""
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    counts: dict[str, Any] = field(default_factory=dict)
    # The first validation.MAX_PROBLEMS problems, and how many there are in all.
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    row_changes: list[RowChange] = field(default_factory=list)
    duration: float = 0.0
    created_ids: list[int] = field(default_factory=list)
    run: ImportRun | None = None
    # A dry run: the fingerprint of each clean row's stored state (diff.py).
    seen: bytearray = field(default_factory=bytearray)
    # A confirmed run: rows changed in the database since the preview.
    stale_rows: int = 0

    @property
    def ok(self) -> bool:
        return not (self.problems or self.problem_count)

    def add_problem(self, problem: Problem) -> None:
        self.problems.append(problem)
        self.problem_count += 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        """One sentence for the admin message and the command's last line."""
        what = "Dry run of" if self.dry_run else "Import of"
        if not self.ok:
            count = self.problem_count
            noun = "problem" if count == 1 else "problems"
            return (
                f"{what} {self.file_name}: {count} {noun} found; nothing was imported."
            )
        verb = "would create" if self.dry_run else "created"
        text = (
            f"{what} {self.file_name}: {self.total_rows} rows; {verb} "
            f"{self.created}, {'would update' if self.dry_run else 'updated'} "
            f"{self.updated}, {self.unchanged} unchanged"
        )
        if self.kind == ImportRun.Kind.DOCTORS and not self.dry_run:
            text += (
                f"; memberships: {self.counts.get('memberships_added', 0)} added, "
                f"{self.counts.get('memberships_changed', 0)} changed, "
                f"{self.counts.get('memberships_removed', 0)} removed"
            )
        return text + "."


@dataclass(frozen=True)
class _Kind:
    name: str
    columns: tuple[str, ...]
    checker: type
    target_type: str
    locked: tuple[type, ...]

    @property
    def passes(self) -> type:
        """The class running the two passes (memberships have their own)."""
        return Passes


DOCTORS = _Kind(
    ImportRun.Kind.DOCTORS,
    DOCTOR_COLUMNS,
    DoctorChecker,
    "doctor",
    (Doctor, Membership),
)
DEPARTMENTS = _Kind(
    ImportRun.Kind.DEPARTMENTS,
    DEPARTMENT_COLUMNS,
    DepartmentChecker,
    "department",
    (Department,),
)


def import_doctors(stream: BinaryIO, **options) -> ImportResult:
    """Import a doctors CSV file (see values.py); options as `run_import`."""
    return run_import(DOCTORS, stream, **options)


def import_departments(stream: BinaryIO, **options) -> ImportResult:
    """Import a departments CSV file (see values.py); options as `run_import`."""
    return run_import(DEPARTMENTS, stream, **options)


def run_import(
    kind: _Kind,
    stream: BinaryIO,
    *,
    file_name: str,
    user=None,
    dry_run: bool = False,
    encoding: str | None = None,
    file_format: str | None = None,
    progress: Progress | None = None,
    expected_rows: int | None = None,
    run: ImportRun | None = None,
    source: str = ActivityEvent.Source.COMMAND,
    chunk_size: int = CHUNK_SIZE,
    expected_seen: bytes | None = None,
    reason: str = "",
) -> ImportResult:
    """Import `stream` (binary, seekable) and record the run; never raises for
    bad input: the problems are in the result and nothing is written.

    `run` is the ImportRun of an earlier preview to complete; otherwise a new
    one is recorded. `source` says where the run started (admin or command).
    `file_format` is one of readers.detect.FILE_FORMAT_CHOICES; detected when not given.
    `expected_seen` is what the preview saw (ImportResult.seen): when any row's
    stored state differs from it, nothing is written and those rows are listed.
    A confirmed run writes one change-set (with the optional `reason`), kept
    on the ImportRun for undo.
    """
    started = time.perf_counter()
    result = ImportResult(kind=kind.name, file_name=file_name, dry_run=dry_run)
    report = progress or (lambda phase, done, total: None)
    actor = user if getattr(user, "is_authenticated", False) else None
    with context.acting_as(
        actor,
        source=ActivityEvent.Source.IMPORT,
        description=f"Import of {file_name}",
        reason=reason,
    ) as change:
        try:
            csv_source = open_source(
                stream,
                columns=kind.columns,
                file_name=file_name,
                file_format=file_format,
                encoding=encoding,
                sheet_name=kind.name.title(),
                key_model=kind.locked[0],
            )
        except ImportFileError as error:
            result.add_problem(Problem(error.row, "", error.message))
        else:
            result.encoding = csv_source.encoding
            result.file_format = csv_source.file_format
            with Spool() as spool:
                passes = kind.passes(
                    kind, csv_source, result, spool, report, chunk_size
                )
                passes.expected_seen = expected_seen
                if dry_run:
                    passes.check(expected_rows)
                else:
                    passes.check_and_write(expected_rows, actor)
    result.duration = time.perf_counter() - started
    change_set = change.change_set if result.ok and result.changed else None
    record_run(result, run=run, user=actor, source=source, change_set=change_set)
    return result


class Passes:
    """The two passes over one file, sharing the checker's findings. The
    memberships import's passes (memberships/runner.py) are a subclass: their
    own check and write, this transaction, lock and feed event."""

    def __init__(self, kind, csv_source, result, spool, report, chunk_size):
        self.kind = kind
        self.csv_source = csv_source
        self.result = result
        self.spool = spool
        self.report = report
        self.chunk_size = chunk_size
        self.checker = None
        self.expected_seen: bytes | None = None

    def check(self, expected_rows: int | None) -> None:
        """Pass 1: every row checked; clean rows spooled (confirmed runs) or
        compared with the database (dry runs)."""
        kind, result = self.kind, self.result
        checker = self.checker = kind.checker()
        chunk: list = []
        codes = _department_codes() if kind is DOCTORS else {}
        today = timezone.localdate()

        def flush():
            if not chunk:
                return
            checker.check_against_database(chunk)
            if result.dry_run:
                plan = (
                    plan_doctor_chunk(chunk, today=today, codes=codes)
                    if kind is DOCTORS
                    else plan_department_chunk(chunk)
                )
                add_plan(result, plan)
            else:
                self.spool.write([_as_tuple(row) for row in chunk])
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

    def _take_problems(self) -> None:
        """The checker's problems into the result, by row, each located in
        the file (a spreadsheet's cell, a JSON file's object)."""
        checker, result = self.checker, self.result
        result.problems = sorted(
            checker.problems, key=lambda p: (p.row is not None, p.row or 0)
        )
        result.problem_count = checker.problem_count
        locate = getattr(self.csv_source, "locate", None)
        if locate is not None:
            result.problems = [locate(problem) for problem in result.problems]

    def check_and_write(self, expected_rows: int | None, actor) -> None:
        kind, result = self.kind, self.result
        with transaction.atomic():
            lock_tables(kind.locked)
            self.check(expected_rows)
            if not result.ok:
                return
            try:
                with transaction.atomic():
                    self._write(actor)
                    if result.stale_rows:
                        raise _ChangedSincePreview
            except _ChangedSincePreview:
                # The savepoint undid whatever chunks were written before the
                # first changed row was met.
                result.created = result.updated = result.unchanged = 0
                result.created_ids = []
                result.counts = {"changed_since_preview": result.stale_rows}
                return
            except IntegrityError as error:
                # The lock keeps concurrent writers out, so this is not expected;
                # if it happens all the same, the savepoint undid every write.
                result.created = result.updated = result.unchanged = 0
                result.created_ids = []
                result.add_problem(
                    Problem(
                        None,
                        "",
                        f"Nothing was imported: {explain_integrity_error(error)}",
                    )
                )
                return
            if result.changed:
                dashboard.bump_generation_on_commit()
                activity.record_bulk(
                    verb=ActivityEvent.Verb.IMPORTED,
                    target_type=kind.target_type,
                    description=result.summary(),
                    counts={
                        "file": result.file_name,
                        "rows": result.total_rows,
                        "created": result.created,
                        "updated": result.updated,
                        "unchanged": result.unchanged,
                        **result.counts,
                    },
                )
            if result.created_ids:
                tasks.queue_welcome_emails(result.created_ids)

    def _write(self, actor) -> None:
        """Pass 2: the spooled rows, compared with the database and written."""
        result = self.result
        now = timezone.now()
        options = {
            "now": now,
            "user_id": actor.pk if actor is not None else None,
            "reason": f"Import of {result.file_name}",
        }
        done = 0
        self.report(WRITING, 0, result.total_rows)
        if self.kind is DOCTORS:
            writer = DoctorWriter(**options)
            overrides = writer.release_heads(self.checker.released_heads)
            codes = _department_codes()
            today = timezone.localdate(now)
            for rows in _spooled(self.spool, DoctorRow):
                plan = plan_doctor_chunk(
                    rows, today=today, codes=codes, overrides=overrides
                )
                if self._unchanged_since_preview(rows, plan, done, "license_number"):
                    writer.write(plan)
                add_plan(result, plan)
                done += len(rows)
                self.report(WRITING, done, result.total_rows)
            result.created_ids = writer.created_ids
            result.counts = {
                "memberships_added": writer.counts.memberships_added,
                "memberships_changed": writer.counts.memberships_changed,
                "memberships_removed": writer.counts.memberships_removed,
            }
        else:
            writer = DepartmentWriter(**options)
            for rows in _spooled(self.spool, DepartmentRow):
                plan = plan_department_chunk(rows)
                if self._unchanged_since_preview(rows, plan, done, "code"):
                    writer.write(plan)
                add_plan(result, plan)
                done += len(rows)
                self.report(WRITING, done, result.total_rows)

    def _unchanged_since_preview(self, rows, plan, offset: int, column: str) -> bool:
        """Whether this chunk's rows are stored as the preview saw them, with a
        problem for each that is not. No chunk is written after the first
        changed row; the caller undoes the chunks written before it."""
        expected = self.expected_seen
        if expected is None:
            return True
        result = self.result
        size = FINGERPRINT_SIZE
        for position, (row, now) in enumerate(zip(rows, plan.seen, strict=True)):
            start = (offset + position) * size
            if expected[start : start + size] == now:
                continue
            result.stale_rows += 1
            key = row.license_number if column == "license_number" else row.code
            self.checker.add(
                row.row,
                column,
                f"{key} changed in the database since the preview (or was added "
                "or deleted); preview the file again to see what the import "
                "would do now",
            )
        result.problems = list(self.checker.problems)
        result.problem_count = self.checker.problem_count
        return not result.stale_rows


class _ChangedSincePreview(Exception):
    pass


def add_plan(result: ImportResult, plan) -> None:
    """Count a chunk's plan into the result (both imports' plans have creates,
    updated, unchanged, row_changes and seen)."""
    if result.dry_run:
        result.seen.extend(b"".join(plan.seen))
    result.created += len(plan.creates)
    result.updated += plan.updated
    result.unchanged += plan.unchanged
    room = PREVIEW_ROWS - len(result.row_changes)
    if room > 0:
        result.row_changes.extend(plan.row_changes[:room])


def _as_tuple(row: DoctorRow | DepartmentRow) -> tuple:
    if isinstance(row, DoctorRow):
        return (
            row.row,
            row.license_number,
            row.values,
            row.departments,
            row.has_primary,
        )
    return (row.row, row.code, row.values)


def _spooled(spool: Spool, row_type):
    for chunk in spool.chunks():
        yield [row_type(*values) for values in chunk]


def _department_codes() -> dict[int, str]:
    return dict(Department.objects.values_list("pk", "code"))


def record_run(
    result: ImportResult, *, run: ImportRun | None, user, source, change_set=None
) -> None:
    """Write the run's record: only the fields set here, so that a run loaded
    without its stored file (see storage.py) never writes it back."""
    if run is None:
        run = ImportRun(kind=result.kind, user=user, source=source)
    if result.dry_run:
        status = ImportRun.Status.PREVIEWED
    elif result.ok:
        status = ImportRun.Status.SUCCEEDED
    else:
        status = ImportRun.Status.FAILED
    run.status = status
    run.file_name = result.file_name[:255]
    run.encoding = result.encoding
    run.file_format = result.file_format
    run.dry_run = result.dry_run
    run.finished_at = timezone.now()
    run.duration = round(result.duration, 3)
    run.total_rows = result.total_rows
    run.created = result.created
    run.updated = result.updated
    run.unchanged = result.unchanged
    run.error_count = result.problem_count
    run.errors = [problem.as_list() for problem in result.problems[:MAX_PROBLEMS]]
    run.counts = result.counts
    fields = [
        "status",
        "file_name",
        "encoding",
        "file_format",
        "dry_run",
        "finished_at",
        "duration",
        "total_rows",
        "created",
        "updated",
        "unchanged",
        "error_count",
        "errors",
        "counts",
        "preview",
        "seen",
        "change_set",
    ]
    run.change_set = change_set
    if result.dry_run:
        run.preview = [
            [change.row, change.key, change.action, change.changes]
            for change in result.row_changes
        ]
        run.seen = bytes(result.seen)
    else:
        # A confirmed import keeps the rows of its preview: they are what it
        # wrote (the confirm refuses when any of them changed since), shown on
        # the run's page.
        run.seen = b""
        if not result.stale_rows:
            # Kept after a refusal for changed rows, to preview the file again.
            run.content = b""
            fields.append("content")
    if run.pk is None:
        run.save()
    else:
        run.save(update_fields=fields)
    result.run = run
