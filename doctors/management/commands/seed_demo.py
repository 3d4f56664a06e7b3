import os
import time

from django.core.management.base import CommandError

from doctors.demo import seed_demo
from doctors.management.base import ClinicCommand


class Command(ClinicCommand):
    help = (
        "Create reproducible demo departments, doctors, memberships and the demo "
        "users admin, staff and manager. Running it again adds only what is missing."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--doctors", type=int, default=200, help="default: 200")
        parser.add_argument("--departments", type=int, default=12, help="default: 12")

    def handle(self, *args, doctors: int, departments: int, **options):
        if doctors < 0 or departments < 0:
            raise CommandError("--doctors and --departments must not be negative.")
        if doctors and not departments:
            raise CommandError("Doctors need at least one department (--departments).")
        started = time.perf_counter()
        report = seed_demo(
            doctors=doctors,
            departments=departments,
            password=os.environ.get("DEMO_PASSWORD") or None,
        )
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"Demo data: {report.departments_created} departments, "
            f"{report.doctors_created} doctors, {report.memberships_created} "
            f"memberships and {report.heads_assigned} heads created "
            f"in {elapsed:.1f} s."
        )
        if report.history is not None and report.history.change_sets:
            history = report.history
            self.stdout.write(
                f"A year of history: {history.change_sets} changes by hand, "
                f"{history.imports} imports, {history.undos} undo, dated across "
                "the past year."
            )
        if report.users_created:
            names = ", ".join(report.users_created)
            self.stdout.write(self.style.SUCCESS(f"Demo users created: {names}"))
            if os.environ.get("DEMO_PASSWORD"):
                self.stdout.write("Their password is the value of DEMO_PASSWORD.")
            else:
                self.stdout.write(
                    self.style.WARNING(
                        f"Their password is {report.password} (shown only this once)."
                    )
                )
        else:
            self.stdout.write(
                "Demo users already exist; their passwords are unchanged."
            )
