"""The shared body of import_doctors and import_departments."""

import os

from django.core.management.base import CommandError

from doctors import context
from doctors.management.base import ClinicCommand
from doctors.runs import imports as service
from doctors.runs.imports import (
    ENCODING_CHOICES,
    FORMAT_CHOICES,
    ImportFileError,
    check_encoding_name,
)
from doctors.runs.progress import TerminalProgress

# Problems printed, at most: a terminal is no place for a thousand lines; the
# import log (ImportRun) keeps the first validation.MAX_PROBLEMS.
LISTED_PROBLEMS = 100


class ImportCommand(ClinicCommand):
    """Import a file (CSV, TSV, JSON, .xlsx, .ods); every problem is listed and
    nothing is written then."""

    kind = None  # doctors.runs.imports.DOCTORS or DEPARTMENTS

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "file",
            metavar="FILE",
            help="the file to import: .csv, .tsv, .json, .xlsx or .ods",
        )
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=[name for name, _ in FORMAT_CHOICES if name],
            help="the file's format; from its name (or content) when not given",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check the file and show what would change; write nothing",
        )
        names = ", ".join(name for name, _ in ENCODING_CHOICES if name)
        parser.add_argument(
            "--encoding",
            metavar="ENC",
            help=f"the file's encoding ({names}, ...); detected when not given",
        )

    def handle(self, *args, file, dry_run, encoding, file_format, **options):
        if encoding:
            try:
                check_encoding_name(encoding)
            except ImportFileError as error:
                raise CommandError(error.message) from None
        try:
            stream = open(file, "rb")
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        progress = TerminalProgress(self.stdout)
        with stream:
            result = service.import_file(
                self.kind,
                stream,
                file_name=os.path.basename(file),
                user=context.current().actor,
                dry_run=dry_run,
                encoding=encoding or None,
                file_format=file_format,
                progress=progress,
            )
        progress.close()
        for problem in result.problems[:LISTED_PROBLEMS]:
            self.stderr.write(f"{file}: {problem}")
        hidden = result.problem_count - min(len(result.problems), LISTED_PROBLEMS)
        if hidden > 0:
            self.stderr.write(
                f"{file}: … and {hidden} more problem(s) not listed; the first "
                f"{len(result.problems)} are in the import log (import run "
                f"{result.run.pk})."
            )
        if dry_run and result.row_changes:
            self.stdout.write("Changes (first rows):")
            for change in result.row_changes[:50]:
                details = "; ".join(
                    f"{name}: {old!r} -> {new!r}"
                    for name, (old, new) in change.changes.items()
                )
                self.stdout.write(
                    f"  row {change.row} {change.key}: {change.action}"
                    + (f" ({details})" if details else "")
                )
        if not result.ok:
            raise CommandError(result.summary())
        self.stdout.write(self.style.SUCCESS(result.summary()))
