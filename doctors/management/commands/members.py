import argparse
import datetime

from django.core.management.base import CommandError
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.formats import date_format

from doctors.exporting import member_rows, write_csv
from doctors.management.base import ClinicCommand, write_csv_to_stdout
from doctors.models import Department, Membership
from doctors.timetravel import recorded_on
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
        "List the members of a department on a date in the clinic's calendar "
        "(today when --on is left out): the periods covering that day, one "
        "doctor a line, license_number,name,role,primary,joined_on,left_on, as "
        "CSV to standard output or --output. With --as-recorded-on, the answer "
        "the records gave at that instant (everything recorded up to and "
        "including it): an ISO 8601 date-time, in the clinic's time zone "
        "without an offset, or a date meaning the end of that day."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("department", metavar="DEPARTMENT_CODE")
        parser.add_argument(
            "--on",
            metavar="YYYY-MM-DD",
            type=_day,
            dest="day",
            help="the day asked about (default: today in the clinic's time zone)",
        )
        parser.add_argument(
            "--as-recorded-on",
            metavar="DATE-OR-DATE-TIME",
            dest="recorded",
            help="answer as the records stood at this instant, e.g. 2025-03-01 "
            "(end of that day) or 2025-03-01T09:30 (clinic time) or "
            "2025-03-01T09:30+01:00",
        )
        parser.add_argument(
            "--output", metavar="FILE.csv", help="write here instead of standard output"
        )

    def handle(self, *args, department, day, recorded, output, **options):
        # Here rather than in the options' parsers: one line, without usage.
        problem = date_range_problem(day) if day is not None else None
        if problem is not None:
            raise CommandError(f"--on: {problem}")
        moment = None
        if recorded is not None:
            try:
                moment = recorded_on.parse(recorded)
            except recorded_on.RecordedOnError as error:
                raise CommandError(f"--as-recorded-on: {error}") from None
        try:
            found = Department.objects.get(code=department)
        except Department.DoesNotExist:
            found, deleted_at = self._deleted_department(department)
            # Its periods went with it: answer from the records just before.
            moment = moment or deleted_at
        day = day or timezone.localdate()
        members = department_members_on(found, day, as_recorded_on=moment)
        rows = member_rows(members)
        if not output:
            write_csv_to_stdout(self, rows)
            return
        try:
            with open(output, "w", encoding="utf-8", newline="") as stream:
                count = write_csv(rows, stream)
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        recorded_words = (
            ""
            if recorded is None
            else " as recorded on "
            + date_format(timezone.localtime(moment), "DATETIME_FORMAT")
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{count} members of {department} on {day:%Y-%m-%d}{recorded_words} "
                f"written to {output}."
            )
        )

    def _deleted_department(self, code: str) -> tuple[Department, datetime.datetime]:
        """A department deleted since still has its past members: the
        department as last recorded, and the instant just before the change
        that deleted it (its periods were deleted with it, just before)."""
        row = (
            Department.history.filter(code=code)
            .select_related("change_set")
            .order_by("-history_date", "-history_id")
            .first()
        )
        if row is None:
            raise CommandError(f"No department with the code {code!r}.")
        if row.change_set is not None:
            deleted = row.change_set.started_at
        else:
            # No change-set to say where the deletion began: at the first of
            # the periods' deletions after their last recorded change.
            periods = Membership.history.filter(department_id=row.id)
            last_change = periods.exclude(history_type="-").aggregate(
                at=Max("history_date")
            )["at"]
            gone = periods.filter(history_type="-")
            if last_change is not None:
                gone = gone.filter(history_date__gt=last_change)
            first_gone = gone.aggregate(at=Min("history_date"))["at"]
            deleted = min(filter(None, [row.history_date, first_gone]))
        return row.instance, deleted - datetime.timedelta(microseconds=1)
