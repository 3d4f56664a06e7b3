import os

from django.core.management.base import CommandError

from doctors import exporting, sheets
from doctors.management.base import ClinicCommand, write_to_stdout
from doctors.models import Doctor
from doctors.resources import DOCTOR_COLUMNS


class Command(ClinicCommand):
    help = (
        "Export every doctor in a format import_doctors reads: CSV (the default), "
        "TSV, JSON, Excel (.xlsx) or OpenDocument (.ods); the format comes from "
        "the --output file's name or --format. To standard output (text formats "
        "only), or to --output FILE."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--output", metavar="FILE", help="write here instead of standard output"
        )
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=[name for name, _ in sheets.EXPORT_CHOICES],
            help="the file format (default: from the --output name, else csv)",
        )
        parser.add_argument(
            "--columns",
            metavar="NAMES",
            help="comma-separated columns to export, of: " + ",".join(DOCTOR_COLUMNS),
        )

    def handle(self, *args, output, file_format, columns, **options):
        file_format = file_format or _format_of(output)
        chosen = None
        if columns:
            chosen = [name.strip() for name in columns.split(",") if name.strip()]
            unknown = [name for name in chosen if name not in DOCTOR_COLUMNS]
            if unknown:
                raise CommandError(
                    f"--columns: unknown column(s) {', '.join(unknown)}; the columns "
                    f"are {', '.join(DOCTOR_COLUMNS)}."
                )
        rows = exporting.doctor_rows(Doctor.objects.order_by("license_number"), chosen)
        if not output:
            if file_format in sheets.BINARY:
                raise CommandError(
                    f"A .{file_format} file cannot go to standard output; "
                    "give --output FILE."
                )
            count = write_to_stdout(
                self,
                lambda stream: exporting.write(file_format, rows, stream, model=Doctor),
            )
            if count is None:
                return
            self.stderr.write(f"Exported {count} doctors.")
            return
        binary = file_format in sheets.BINARY
        try:
            with (
                open(output, "wb")
                if binary
                else open(output, "w", encoding="utf-8", newline="")
            ) as stream:
                count = exporting.write(file_format, rows, stream, model=Doctor)
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        self.stdout.write(self.style.SUCCESS(f"Exported {count} doctors to {output}."))


def _format_of(output: str | None) -> str:
    if output:
        extension = os.path.splitext(output)[1].lower().lstrip(".")
        if extension in sheets.FORMATS:
            return extension
    return "csv"
