from django.core.management.base import CommandError

from doctors.exporting import doctor_rows, write_csv
from doctors.management.base import ClinicCommand, write_csv_to_stdout
from doctors.models import Doctor


class Command(ClinicCommand):
    help = (
        "Export every doctor as CSV, in the format import_doctors reads "
        "(to standard output, or to --output FILE)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--output", metavar="FILE", help="write here instead of standard output"
        )

    def handle(self, *args, output, **options):
        rows = doctor_rows(Doctor.objects.order_by("license_number"))
        if not output:
            count = write_csv_to_stdout(self, rows)
            if count is None:
                return
            self.stderr.write(f"Exported {count} doctors.")
            return
        try:
            with open(output, "w", encoding="utf-8", newline="") as stream:
                count = write_csv(rows, stream)
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        self.stdout.write(self.style.SUCCESS(f"Exported {count} doctors to {output}."))
