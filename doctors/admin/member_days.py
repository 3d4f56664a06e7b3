"""The member list's date selector: the members on any day, past or future.

Without a day the member list shows the periods not ended (today's members
and those who join later). With one (?on=YYYY-MM-DD) it shows the periods
covering that day, the ended ones too, so the list answers "who was in
Cardiology on 1 January 2025" and "who will be in it on 1 March". The selector
is a list filter; with a day, the member list's queryset holds every period
(its get_queryset) and this filter keeps those covering the day.
"""

import datetime

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone
from django.utils.formats import date_format

from .. import periods
from ..validators import date_range_problem


def _day(text: str | None) -> datetime.date | None:
    try:
        day = datetime.date.fromisoformat(text or "")
    except ValueError:
        return None
    return None if date_range_problem(day) else day


def chosen_day(request) -> datetime.date | None:
    """The day the list is asked for ("on" in the address), if a valid one."""
    return _day(request.GET.get(MembersOnDayFilter.parameter_name))


class MembersOnDayFilter(admin.SimpleListFilter):
    title = "members on a day"
    parameter_name = "on"
    template = "admin/doctors/member_days_filter.html"

    def lookups(self, request, model_admin):
        today = timezone.localdate()
        return [(today.isoformat(), "Today")]

    def day(self) -> datetime.date | None:
        return _day(self.value())

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        day = self.day()
        if day is None:
            raise IncorrectLookupParameters(f"{self.value()!r} is not a day.")
        return queryset.filter(periods.covering(day))

    def choices(self, changelist):
        day = self.day()
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Current and future members",
        }
        today = timezone.localdate()
        yield {
            "selected": day == today,
            "query_string": changelist.get_query_string(
                {self.parameter_name: today.isoformat()}
            ),
            "display": "Today",
        }
        if day is not None and day != today:
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: day.isoformat()}
                ),
                "display": f"On {date_format(day, 'j F Y')}",
            }
        # The date field's form keeps the list's other choices (search,
        # filters, order) as hidden fields and starts again from page 1.
        self.kept_parameters = [
            (name, value)
            for name, values in changelist.params.items()
            if name not in (self.parameter_name, "p")
            for value in (values if isinstance(values, list) else [values])
        ]
        self.chosen_day = day.isoformat() if day else ""
