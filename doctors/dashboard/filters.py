"""The filters of the dashboard and of the feed export: a period and a department."""

import datetime
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.utils import timezone
from django.utils.formats import date_format

PRESET_PERIODS = {"7": 7, "30": 30, "90": 90}
DEFAULT_PERIOD = "30"
CUSTOM = "custom"
# A year and a day: a leap year fits; the chart stays readable.
MAX_CUSTOM_DAYS = 366


@dataclass(frozen=True)
class DashboardFilters:
    """Local calendar days `start`..`end` (both included), maybe one department."""

    start: datetime.date
    end: datetime.date
    department_id: int | None = None
    department_name: str = ""
    period: str = DEFAULT_PERIOD

    @classmethod
    def last_days(cls, days: int, **kwargs) -> "DashboardFilters":
        today = timezone.localdate()
        return cls(start=today - datetime.timedelta(days=days - 1), end=today, **kwargs)

    @property
    def days(self) -> list[datetime.date]:
        count = (self.end - self.start).days + 1
        return [self.start + datetime.timedelta(days=n) for n in range(count)]

    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        """Aware datetimes [from, until) covering the days in the current zone."""
        zone = timezone.get_current_timezone()
        since = datetime.datetime.combine(self.start, datetime.time.min, zone)
        until = datetime.datetime.combine(
            self.end + datetime.timedelta(days=1), datetime.time.min, zone
        )
        return since, until

    def cache_key(self) -> str:
        department = self.department_id if self.department_id is not None else "all"
        zone = timezone.get_current_timezone_name()
        dates = f"{self.start.isoformat()}:{self.end.isoformat()}"
        return f"{dates}:{department}:{zone}:{self.period}"

    def query_string(self) -> str:
        params = {"period": self.period}
        if self.period == CUSTOM:
            params["start"] = self.start.isoformat()
            params["end"] = self.end.isoformat()
        if self.department_id is not None:
            params["department"] = str(self.department_id)
        return urlencode(params)

    @property
    def description(self) -> str:
        text = f"{date_format(self.start)} – {date_format(self.end)}"
        if self.department_name:
            text += f", {self.department_name}"
        return text


class DateInput(forms.DateInput):
    input_type = "date"


class DashboardFilterForm(forms.Form):
    """Validates the query string of the dashboard and of the feed export."""

    period = forms.ChoiceField(
        label="Period",
        required=False,
        choices=[
            ("7", "Last 7 days"),
            ("30", "Last 30 days"),
            ("90", "Last 90 days"),
            (CUSTOM, "Custom range"),
        ],
    )
    start = forms.DateField(
        label="From",
        required=False,
        widget=DateInput,
        error_messages={"invalid": "“From” must be a date written as YYYY-MM-DD."},
    )
    end = forms.DateField(
        label="To",
        required=False,
        widget=DateInput,
        error_messages={"invalid": "“To” must be a date written as YYYY-MM-DD."},
    )
    department = forms.TypedChoiceField(
        label="Department",
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={
            "invalid_choice": "There is no department with the id %(value)s."
        },
    )

    def __init__(self, *args, departments: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self._department_names = dict(departments)
        self.fields["department"].choices = [("", "All departments"), *departments]

    def clean_period(self) -> str:
        return self.cleaned_data.get("period") or DEFAULT_PERIOD

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("period") != CUSTOM or self.errors:
            return cleaned
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is None or end is None:
            raise forms.ValidationError(
                "A custom range needs both a “From” and a “To” date."
            )
        if start > end:
            self.add_error("end", "“To” must be on or after “From”.")
        elif (end - start).days + 1 > MAX_CUSTOM_DAYS:
            self.add_error(
                "end", f"A custom range can span at most {MAX_CUSTOM_DAYS} days."
            )
        elif end > timezone.localdate():
            self.add_error("end", "“To” cannot be in the future.")
        return cleaned

    def filters(self) -> DashboardFilters:
        """The validated filters; call after is_valid()."""
        data = self.cleaned_data
        department_id = data.get("department")
        extra = {
            "department_id": department_id,
            "department_name": self._department_names.get(department_id, ""),
            "period": data["period"],
        }
        if data["period"] == CUSTOM:
            return DashboardFilters(start=data["start"], end=data["end"], **extra)
        return DashboardFilters.last_days(PRESET_PERIODS[data["period"]], **extra)

    def error_summary(self) -> str:
        """Every error as one line: "Field: message" (for the CSV export)."""
        lines = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else "Filters"
            lines.extend(f"{label}: {error}" for error in errors)
        return "\n".join(lines)
