"""The shared body of export_doctors and export_memberships."""

import os

from django.core.management.base import CommandError

from doctors import exporting, sheets
from doctors.management.base import ClinicCommand, write_to_stdout


class ExportCommand(ClinicCommand):
    """Write rows in a format the matching import reads: to standard output
    (text formats only) or to --output FILE, the format from --format or the
    file's name, else CSV."""

    model = None  # the exported model (doctors.exporting.write names the sheet)
    noun = ""  # what the last line counts: "doctors", "periods"

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

    def export(self, rows, *, output: str | None, file_format: str | None) -> None:
        """Write `rows` (header first) and say how many data rows went out."""
        file_format = file_format or format_of(output)
        binary = file_format in sheets.BINARY
        if not output:
            if binary:
                raise CommandError(
                    f"A .{file_format} file cannot go to standard output; "
                    "give --output FILE."
                )
            count = write_to_stdout(
                self, lambda stream: self._write(file_format, rows, stream)
            )
            if count is not None:
                self.stderr.write(f"Exported {count} {self.noun}.")
            return
        try:
            with (
                open(output, "wb")
                if binary
                else open(output, "w", encoding="utf-8", newline="")
            ) as stream:
                count = self._write(file_format, rows, stream)
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        self.stdout.write(
            self.style.SUCCESS(f"Exported {count} {self.noun} to {output}.")
        )

    def _write(self, file_format: str, rows, stream) -> int:
        return exporting.write(file_format, rows, stream, model=self.model)


def format_of(output: str | None) -> str:
    """The format named by the output file's extension; CSV otherwise."""
    if output:
        extension = os.path.splitext(output)[1].lower().lstrip(".")
        if extension in sheets.FORMATS:
            return extension
    return "csv"
