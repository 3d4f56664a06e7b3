import argparse
import datetime

from django.core.management.base import CommandError
from django.utils import timezone

from doctors.exporting import member_rows, write_csv
from doctors.management.base import ClinicCommand, write_csv_to_stdout
from doctors.models import Department
from doctors.timetravel.moments import department_members_on
from doctors.validators import date_range_problem


def _day(text: str) -> datetime.date:
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        # argparse names the option: "argument --on: '1 March' is not a date".
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; write it as YYYY-MM-DD."
        ) from None
    return day


class Command(ClinicCommand):
    help = (
        "List the members of a department on a date, as the system knew it at "
        "the end of that day (today when --on is left out): one doctor a line, "
        "license_number,name,role,primary, as CSV to standard output or --output."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("department", metavar="DEPARTMENT_CODE")
        parser.add_argument("--on", metavar="YYYY-MM-DD", type=_day, dest="day")
        parser.add_argument(
            "--output", metavar="FILE.csv", help="write here instead of standard output"
        )

    def handle(self, *args, department, day, output, **options):
        # Here rather than in the option's parser: one line, without usage.
        problem = date_range_problem(day) if day is not None else None
        if problem is not None:
            raise CommandError(f"--on: {problem}")
        try:
            found = Department.objects.get(code=department)
        except Department.DoesNotExist:
            found = self._deleted_department(department)
        day = day or timezone.localdate()
        members = department_members_on(found, day)
        rows = member_rows(members)
        if not output:
            write_csv_to_stdout(self, rows)
            return
        try:
            with open(output, "w", encoding="utf-8", newline="") as stream:
                count = write_csv(rows, stream)
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{count} members of {department} on {day:%Y-%m-%d} written to "
                f"{output}."
            )
        )

    def _deleted_department(self, code: str) -> Department:
        """A department deleted since still has its past members."""
        row = (
            Department.history.filter(code=code)
            .order_by("-history_date", "-history_id")
            .first()
        )
        if row is None:
            raise CommandError(f"No department with the code {code!r}.")
        return row.instance
