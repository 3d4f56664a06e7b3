"""The numbers on the dashboard, each block computed by one function.

Every block aggregates in the database (COUNT ... GROUP BY), never by loading
rows into Python, and reads the primary database: the router's database for
writes. A replica that lags behind would let a recomputation triggered by a
fresh generation cache numbers from before the change under that generation,
which no later bump would clear until the TTL ran out.

Blocks return plain, picklable data (dicts, lists, dates) for the cache.
"""

import datetime
from collections import defaultdict
from typing import Any

from django.db import connections, router
from django.db.models import CharField, Count, Func, Q, QuerySet, Value
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from doctors import activity
from doctors.models import ActivityEvent, Department, Doctor, Membership

from .filters import DashboardFilters

Verb = ActivityEvent.Verb

# The three series of "changes per day"; every verb belongs to exactly one.
EDIT_VERBS = (
    Verb.CREATED,
    Verb.UPDATED,
    Verb.DELETED,
    Verb.BULK_CREATED,
    Verb.BULK_UPDATED,
)
MEMBERSHIP_VERBS = (
    Verb.MEMBERSHIP_ADDED,
    Verb.MEMBERSHIP_CHANGED,
    Verb.MEMBERSHIP_REMOVED,
)
IMPORT_VERBS = (Verb.IMPORTED,)
# An undo and a redo (the undo of an undo) write the same verb.
UNDO_VERBS = (Verb.UNDONE,)
# COUNT ... FILTER per series, for aggregate() and annotate().
SERIES_COUNTS = {
    "edits": Count("id", filter=Q(verb__in=EDIT_VERBS)),
    "memberships": Count("id", filter=Q(verb__in=MEMBERSHIP_VERBS)),
    "imports": Count("id", filter=Q(verb__in=IMPORT_VERBS)),
    "undos": Count("id", filter=Q(verb__in=UNDO_VERBS)),
}


RECENT_EVENTS = 50
TOP_EDITORS = 10
RECENT_IMPORTS = 10


def primary(model) -> str:
    """The database that takes writes for `model`: never a lagging replica."""
    return router.db_for_write(model)


def events_in(filters: DashboardFilters) -> QuerySet[ActivityEvent]:
    """Feed events in the period that concern the department, if one is chosen.

    An event concerns a department when it is a membership change there, a
    change of the department itself, or a change of a doctor who is now one of
    its members. Imports are clinic-wide: no department filter matches them.
    """
    since, until = filters.bounds()
    events = ActivityEvent.objects.using(primary(ActivityEvent)).filter(
        occurred_at__gte=since, occurred_at__lt=until
    )
    department_id = filters.department_id
    if department_id is not None:
        members = (
            Membership.objects.using(primary(Membership))
            .filter(department_id=department_id)
            .values("doctor_id")
        )
        events = events.filter(
            Q(department_id=department_id)
            | Q(target_type="department", target_id=department_id)
            | Q(target_type="doctor", target_id__in=members)
        )
    return events


def department_choices(filters: DashboardFilters | None = None) -> list[tuple]:
    """(id, name) of every department, for the filter form (whatever the filters)."""
    return list(
        Department.objects.using(primary(Department))
        .order_by("name")
        .values_list("id", "name")
    )


def figures(filters: DashboardFilters) -> dict[str, int]:
    db = primary(Doctor)
    active_doctors = Doctor.objects.using(db).filter(is_active=True)
    # Members today: the periods covering today.
    memberships = Membership.objects.using(db).current()
    if filters.department_id is not None:
        active_doctors = active_doctors.filter(
            pk__in=memberships.filter(department_id=filters.department_id).values(
                "doctor_id"
            )
        )
        memberships = memberships.filter(department_id=filters.department_id)
    counts = events_in(filters).aggregate(**SERIES_COUNTS)
    return {
        "active_doctors": active_doctors.count(),
        "departments": Department.objects.using(db).filter(is_active=True).count(),
        "memberships": memberships.count(),
        # Every change of the period, as the chart of changes per day adds
        # them up; the imports among them are also shown on their own.
        "changes": sum(counts.values()),
        "imports": counts["imports"],
    }


def doctors_per_department(filters: DashboardFilters) -> list[dict[str, Any]]:
    """Every department with its number of doctors (inactive ones included).

    The count is what the doctor list filtered to that department shows, which
    is where a click on the bar leads.
    """
    db = primary(Department)
    # Counting the membership rows alone reads one index; joining departments
    # first would group 200k joined rows.
    counts = dict(
        Membership.objects.using(db)
        .current()
        .values("department_id")
        .annotate(count=Count("id"))
        .order_by()
        .values_list("department_id", "count")
    )
    departments = (
        Department.objects.using(db).order_by("name").values("id", "name", "is_active")
    )
    return [
        {**department, "doctor_count": counts.get(department["id"], 0)}
        for department in departments
    ]


class UTCHour(Func):
    """SQLite: the UTC hour of a datetime column, as its text 'YYYY-MM-DD HH'.

    SQLite keeps datetimes as UTC text; its TruncDate calls a Python function
    per row (about 6 µs: 0.6 s for 100k events). Cutting the text is done in C.
    """

    function = "substr"
    output_field = CharField()

    def __init__(self, expression, **extra):
        super().__init__(expression, Value(1), Value(13), **extra)


def _whole_hour_offsets(filters: DashboardFilters) -> bool:
    """Whether every UTC hour of the period lies within one local day."""
    zone = timezone.get_current_timezone()
    since, until = filters.bounds()
    offsets = {
        (since + datetime.timedelta(days=n)).astimezone(zone).utcoffset()
        for n in range((until - since).days + 1)
    }
    return all(offset.total_seconds() % 3600 == 0 for offset in offsets)


def _counts_by_day(events: QuerySet[ActivityEvent], filters: DashboardFilters):
    """(local day, {series: count}) for the events, grouped in the database.

    Grouped by time only, the series counted with FILTER: grouping by verb too
    leads SQLite to walk the (verb, occurred_at) index and read the table.
    """
    if connections[events.db].vendor == "sqlite" and _whole_hour_offsets(filters):
        zone = timezone.get_current_timezone()
        rows = (
            events.annotate(hour=UTCHour("occurred_at"))
            .values("hour")
            .annotate(**SERIES_COUNTS)
            .order_by()
        )
        day_of_hour: dict[str, datetime.date] = {}
        for row in rows:
            hour = row.pop("hour")
            if hour not in day_of_hour:
                utc = datetime.datetime.fromisoformat(f"{hour}:00+00:00")
                day_of_hour[hour] = utc.astimezone(zone).date()
            yield day_of_hour[hour], row
        return
    rows = (
        events.annotate(day=TruncDate("occurred_at"))
        .values("day")
        .annotate(**SERIES_COUNTS)
        .order_by()
    )
    for row in rows:
        yield row.pop("day"), row


def changes_per_day(filters: DashboardFilters) -> list[dict[str, Any]]:
    """One entry per day of the period: edits, membership changes, imports."""
    by_day: dict[datetime.date, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(SERIES_COUNTS, 0)
    )
    for day, counts in _counts_by_day(events_in(filters), filters):
        for series, count in counts.items():
            by_day[day][series] += count
    return [{"day": day, **by_day[day]} for day in filters.days]


def recent_activity(filters: DashboardFilters) -> list[dict[str, Any]]:
    events = list(
        events_in(filters)
        # The change-set and the one it reverses tell a redo from an undo.
        .select_related("change_set__undoes")
        .order_by("-occurred_at", "-id")[:RECENT_EVENTS]
    )
    existing = _existing_targets(events)
    return [
        {
            "occurred_at": event.occurred_at,
            "actor": event.actor_name,
            "source": event.get_source_display(),
            "verb": activity.verb_label(event),
            "target": event.target_text,
            "target_url": _target_url(event, existing),
            "summary": activity.summarize(event),
        }
        for event in events
    ]


def _existing_targets(events: list[ActivityEvent]) -> set[tuple[str, int]]:
    wanted: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event.target_id is not None:
            wanted[event.target_type].add(event.target_id)
    existing = set()
    for target_type, model in (("doctor", Doctor), ("department", Department)):
        if wanted[target_type]:
            ids = (
                model.objects.using(primary(model))
                .filter(pk__in=wanted[target_type])
                .values_list("pk", flat=True)
            )
            existing.update((target_type, pk) for pk in ids)
    return existing


def _target_url(event: ActivityEvent, existing: set[tuple[str, int]]) -> str:
    if (event.target_type, event.target_id) not in existing:
        return ""
    return reverse(f"admin:doctors_{event.target_type}_change", args=[event.target_id])


def top_editors(filters: DashboardFilters) -> list[dict[str, Any]]:
    """Who made the most changes in the period (changes with no user left out)."""
    rows = (
        events_in(filters)
        .exclude(actor_name="")
        .values("actor_name")
        .annotate(count=Count("id"))
        .order_by("-count", "actor_name")[:TOP_EDITORS]
    )
    return [{"name": row["actor_name"], "count": row["count"]} for row in rows]


def recent_imports(filters: DashboardFilters) -> list[dict[str, Any]]:
    """The latest imports in the period, with the counts and errors they logged."""
    events = (
        events_in(filters)
        .filter(verb__in=IMPORT_VERBS)
        .order_by("-occurred_at", "-id")[:RECENT_IMPORTS]
    )
    return [
        {
            "occurred_at": event.occurred_at,
            "actor": event.actor_name,
            "description": event.target_text,
            **split_import_counts(event.counts),
        }
        for event in events
    ]


def split_import_counts(counts: dict[str, Any]) -> dict[str, Any]:
    """Counts to show as "name: number", and the error count and messages.

    An import logs "errors" either as a number or as a list of messages.
    """
    errors = counts.get("errors", 0)
    messages = [str(message) for message in errors] if isinstance(errors, list) else []
    error_count = len(messages) if isinstance(errors, list) else errors
    if not isinstance(error_count, int) or isinstance(error_count, bool):
        error_count = 0
    shown = {
        name: value
        for name, value in counts.items()
        if name != "errors" and not isinstance(value, list | dict)
    }
    return {
        "counts": activity.describe_counts(shown),
        "error_count": error_count,
        "error_messages": messages[:5],
        "more_errors": max(len(messages) - 5, 0),
    }
