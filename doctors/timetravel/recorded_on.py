"""What "as recorded on" means when staff type it: one rule for the command
and the admin pages.

An ISO 8601 date-time is that instant; without an offset it is in the clinic's
time zone (settings.TIME_ZONE). A bare date means the end of that day there,
so everything recorded during the day counts. The instant must fall within
the dates the clinic accepts.
"""

import datetime

from django.utils import timezone

from ..validators import date_range_problem
from .moments import end_of_day

EXPECTED = "write it as YYYY-MM-DD or YYYY-MM-DD HH:MM (clinic time)"


class RecordedOnError(ValueError):
    """The text is no instant the clinic can ask about; str() says why."""


def parse(text: str) -> datetime.datetime:
    """The instant `text` names (aware)."""
    text = text.strip()
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        return _checked(day, lambda: end_of_day(day))
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise RecordedOnError(
            f"{text!r} is not a date or a date-time; {EXPECTED}."
        ) from None
    if timezone.is_naive(moment):
        return _checked(moment.date(), lambda: timezone.make_aware(moment))
    return _checked(moment.date(), lambda: moment)


def from_day_and_time(
    day: datetime.date, time: datetime.time | None
) -> datetime.datetime:
    """A form's date and optional time (clinic time): the end of the day when
    no time is given."""
    if time is None:
        return _checked(day, lambda: end_of_day(day))
    return _checked(
        day, lambda: timezone.make_aware(datetime.datetime.combine(day, time))
    )


def _checked(day: datetime.date, moment) -> datetime.datetime:
    # Checked before the instant is made: near year 9999 making it overflows.
    problem = date_range_problem(day)
    if problem is not None:
        raise RecordedOnError(problem)
    return moment()
