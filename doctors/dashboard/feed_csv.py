"""The feed as CSV for the dashboard's filters, safe to open in a spreadsheet."""

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone

from doctors import activity
from doctors.formulas import neutralize

from .blocks import events_in
from .filters import DashboardFilters

HEADER = [
    "when",
    "who",
    "source",
    "action",
    "target type",
    "target id",
    "target",
    "department",
    "summary",
    "changes",
    "counts",
]


def formula_safe(value: Any) -> str:
    """The cell for `value`, which no spreadsheet runs as a formula."""
    return neutralize("" if value is None else str(value))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""


def feed_rows(filters: DashboardFilters) -> Iterator[list[str]]:
    yield HEADER
    events = events_in(filters).order_by("-occurred_at", "-id")
    zone = timezone.get_current_timezone()
    for event in events.iterator(chunk_size=2000):
        yield [
            formula_safe(value)
            for value in (
                event.occurred_at.astimezone(zone).isoformat(timespec="seconds"),
                event.actor_name,
                event.get_source_display(),
                event.get_verb_display(),
                event.target_type,
                event.target_id,
                event.target_text,
                event.department_text,
                activity.summarize(event, limit=1000),
                _json(event.changes),
                _json(event.counts),
            )
        ]


class _Echo:
    """A file-like object whose write() returns the line (Django's CSV recipe)."""

    def write(self, value: str) -> str:
        return value


def _lines(rows: Iterable[list[str]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def feed_csv_response(filters: DashboardFilters) -> StreamingHttpResponse:
    """Stream the rows: a long period must not be held in memory at once."""
    name = f"clinic-feed-{filters.start.isoformat()}-to-{filters.end.isoformat()}"
    if filters.department_id is not None:
        name += f"-department-{filters.department_id}"
    response = StreamingHttpResponse(
        _lines(feed_rows(filters)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response
