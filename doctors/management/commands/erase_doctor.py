from django.core.management.base import CommandError

from doctors.context import current
from doctors.ledger import erasure
from doctors.management.base import ClinicCommand


class Command(ClinicCommand):
    help = (
        "Erase a doctor's personal data (names, email, phone, license number) "
        "everywhere: the doctor, the history, the feed, import files and the "
        "dashboard cache. What remains reads 'Erased doctor #N'."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("license_number", help="The doctor's license number.")
        parser.add_argument(
            "--reason",
            required=True,
            help="Why (kept with the erasure in the change history).",
        )

    def handle(self, *args, license_number, reason, **options):
        try:
            doctor = erasure.find_doctor(license_number)
            result = erasure.erase_doctor(
                doctor,
                reason=reason,
                user=current().user,
                source=current().source,
            )
        except erasure.ErasureError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(result.summary())
