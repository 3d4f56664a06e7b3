"""`manage.py welcome_email_failures`: which welcome emails were not sent, and why.

With --resend, the emails given up on are queued again (after, say, a wrong
address was corrected), each with a fresh set of attempts.
"""

from django.core.management.base import BaseCommand

from doctors.models import WelcomeEmailFailure
from doctors.tasks import one_line, resend_given_up


class Command(BaseCommand):
    help = "List the welcome emails that could not be sent; --resend queues them again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--resend",
            action="store_true",
            help="Queue the emails given up on again, with a fresh set of attempts.",
        )

    def handle(self, *, resend, **options):
        failures = WelcomeEmailFailure.objects.select_related("doctor").order_by(
            "doctor__license_number"
        )
        count = 0
        for failure in failures.iterator(chunk_size=500):
            count += 1
            doctor = failure.doctor
            if failure.gave_up:
                state = "given up"
            elif failure.retry_at:
                state = f"next attempt {failure.retry_at.isoformat(timespec='seconds')}"
            else:
                state = "queued again"
            self.stdout.write(
                f"{one_line(doctor.license_number)}  {one_line(doctor.full_name)} "
                f"<{one_line(doctor.email)}>: {failure.attempts} attempt(s), "
                f"{state}: {failure.reason}"
            )
        if not count:
            self.stdout.write("Every welcome email was sent.")
            return
        if resend:
            queued = resend_given_up(failures)
            self.stdout.write(f"Queued {queued} welcome email(s) again.")
