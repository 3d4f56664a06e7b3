"""Memberships are periods in the clinic's calendar (valid time).

A doctor is a member of a department on day D when a membership row has
`joined_on <= D` and (`left_on` is empty or `D <= left_on`): both days are
included, an empty `left_on` means open-ended. Leaving ends a period, a change
on a date ends one period the day before and starts the next, and nothing here
needs a scheduled job: "today" is read when a question is asked, in the
clinic's time zone (settings.TIME_ZONE).

This module holds the day arithmetic and the many-to-many field whose managers
(`doctor.departments`, `department.doctors`) see the periods covering today, so
the tutorial's `add()`, `remove()`, `clear()` and `set()` keep meaning
"current memberships": `remove()` and `clear()` end periods (through
Membership's default manager, whose delete() ends rather than deletes), and
`add()` after a doctor left starts a new period. It imports no model.
"""

import datetime

from django.db import models
from django.db.models import Q
from django.db.models.fields.related_descriptors import ManyToManyDescriptor
from django.utils import timezone
from django.utils.functional import cached_property

ONE_DAY = datetime.timedelta(days=1)


class PeriodEvent(models.TextChoices):
    """What a save did to a period, set on the instance as `period_event` by
    the code that knows (doctors.period_changes, MembershipQuerySet.end) for
    the receivers that word the feed and the admin messages."""

    STARTED = "started", "Joined"
    ENDED = "ended", "Left"
    CHANGED = "changed", "Changed from a date"
    CORRECTED = "corrected", "Corrected"
    CANCELLED = "cancelled", "Cancelled (never started)"


def today() -> datetime.date:
    """Today in the clinic's time zone."""
    return timezone.localdate()


def yesterday() -> datetime.date:
    return today() - ONE_DAY


def covering(day: datetime.date, prefix: str = "") -> Q:
    """Periods that include `day`. `prefix` reaches the membership from
    another model ("memberships__")."""
    return Q(**{f"{prefix}joined_on__lte": day}) & (
        Q(**{f"{prefix}left_on__isnull": True}) | Q(**{f"{prefix}left_on__gte": day})
    )


def not_ended(day: datetime.date, prefix: str = "") -> Q:
    """Periods that include `day` or start after it: what a doctor still has."""
    return Q(**{f"{prefix}left_on__isnull": True}) | Q(**{f"{prefix}left_on__gte": day})


def overlapping(first: datetime.date, last: datetime.date | None) -> Q:
    """Periods sharing at least one day with first..last (None: open-ended)."""
    q = Q(left_on__isnull=True) | Q(left_on__gte=first)
    if last is not None:
        q &= Q(joined_on__lte=last)
    return q


def describe(first: datetime.date, last: datetime.date | None) -> str:
    """A period in words: "from 3 March 2024", "3 March 2024 to 31 May 2025"."""
    from django.utils.formats import date_format

    if last is None:
        return f"from {date_format(first)}"
    if last == first:
        return f"on {date_format(first)}"
    return f"{date_format(first)} to {date_format(last)}"


# The SQL a prefetch adds to Django's own join of the membership table (it is
# named by its table there): the periods covering a day.
_PREFETCH_COVERING = (
    '"{table}"."joined_on" <= %s AND ("{table}"."left_on" IS NULL '
    'OR "{table}"."left_on" >= %s)'
)


def _current_related_manager(base, through_query_name: str):
    """A many-to-many related manager class seeing only the memberships that
    cover today (see the module's docstring)."""

    class CurrentMembershipsManager(base):
        def _apply_rel_filters(self, queryset):
            queryset = super()._apply_rel_filters(queryset)
            # The filter just made is sticky: this one reuses its join of the
            # membership table, so both conditions hold for the same row.
            return queryset.filter(covering(today(), f"{through_query_name}__"))

        @property
        def constrained_target(self):
            target = super().constrained_target
            return None if target is None else target.filter(covering(today()))

        def get_prefetch_querysets(self, instances, querysets=None):
            queryset, *rest = super().get_prefetch_querysets(instances, querysets)
            table = self.through._meta.db_table
            day = today()
            queryset = queryset.extra(
                where=[_PREFETCH_COVERING.format(table=table)], params=[day, day]
            )
            return (queryset, *rest)

    return CurrentMembershipsManager


class CurrentManyToManyDescriptor(ManyToManyDescriptor):
    @cached_property
    def related_manager_cls(self):
        base = super().related_manager_cls
        through = self.rel.through
        # The membership's foreign key to the model the manager returns.
        target = self.rel.related_model if self.reverse else self.rel.model
        name = next(
            field.related_query_name()
            for field in through._meta.get_fields()
            if isinstance(field, models.ForeignKey) and field.related_model is target
        )
        return _current_related_manager(base, name)


class CurrentMembershipsField(models.ManyToManyField):
    """A many-to-many through Membership whose managers see today's periods."""

    def contribute_to_class(self, cls, name, **kwargs):
        super().contribute_to_class(cls, name, **kwargs)
        setattr(cls, self.name, CurrentManyToManyDescriptor(self.remote_field))

    def contribute_to_related_class(self, cls, related):
        super().contribute_to_related_class(cls, related)
        if not self.remote_field.hidden and not related.related_model._meta.swapped:
            setattr(
                cls,
                related.accessor_name,
                CurrentManyToManyDescriptor(self.remote_field, reverse=True),
            )
