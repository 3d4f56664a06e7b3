import os

from django.core.management.base import CommandError

from doctors import sheets
from doctors.importing.memberships import exporting
from doctors.importing.memberships.values import MEMBERSHIP_COLUMNS
from doctors.management.base import ClinicCommand, write_to_stdout


class Command(ClinicCommand):
    help = (
        "Export every membership period (ended ones too) with the columns "
        f"{','.join(MEMBERSHIP_COLUMNS)}, in a format import_memberships reads: "
        "CSV (the default), TSV, JSON, Excel (.xlsx) or OpenDocument (.ods); the "
        "format comes from --format or the --output file's name. To standard "
        "output (text formats only), or to --output FILE."
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

    def handle(self, *args, output, file_format, **options):
        file_format = file_format or _format_of(output)
        if not output:
            if file_format in sheets.BINARY:
                raise CommandError(
                    f"A .{file_format} file cannot go to standard output; "
                    "give --output FILE."
                )
            count = write_to_stdout(
                self, lambda stream: exporting.write(file_format, stream)
            )
            if count is not None:
                self.stderr.write(f"Exported {count} periods.")
            return
        binary = file_format in sheets.BINARY
        try:
            with (
                open(output, "wb")
                if binary
                else open(output, "w", encoding="utf-8", newline="")
            ) as stream:
                count = exporting.write(file_format, stream)
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        self.stdout.write(self.style.SUCCESS(f"Exported {count} periods to {output}."))


def _format_of(output: str | None) -> str:
    if output:
        extension = os.path.splitext(output)[1].lower().lstrip(".")
        if extension in sheets.FORMATS:
            return extension
    return "csv"
