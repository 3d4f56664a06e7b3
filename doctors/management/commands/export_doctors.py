from django.core.management.base import CommandError

from doctors import exporting
from doctors.management.exporting import ExportCommand
from doctors.models import Doctor
from doctors.resources import DOCTOR_COLUMNS


class Command(ExportCommand):
    help = (
        "Export every doctor in a format import_doctors reads: CSV (the default), "
        "TSV, JSON, Excel (.xlsx) or OpenDocument (.ods); the format comes from "
        "the --output file's name or --format. To standard output (text formats "
        "only), or to --output FILE."
    )

    model = Doctor
    noun = "doctors"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--columns",
            metavar="NAMES",
            help="comma-separated columns to export, of: " + ",".join(DOCTOR_COLUMNS),
        )

    def handle(self, *args, output, file_format, columns, **options):
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
        self.export(rows, output=output, file_format=file_format)
