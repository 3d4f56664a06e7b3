"""Changes that touch many rows at once, done in bulk with their history."""

from typing import NamedTuple

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import activity, context, dashboard
from .models import ActivityEvent, Doctor


class ActiveChange(NamedTuple):
    """What `set_doctors_active` did: the doctors it changed, and those that
    were already as asked (a repeated or concurrent request changes nothing)."""

    changed: int
    already: list[Doctor]


def set_doctors_active(queryset: QuerySet[Doctor], *, active: bool) -> ActiveChange:
    """Mark the doctors of `queryset` active or inactive.

    One UPDATE for all rows, one history row per doctor that really changed
    (written in bulk), one feed event with the count and one cache bump: no
    receiver runs per row. The rows are locked and re-read first, so of two
    requests at the same moment the second finds them already changed.
    """
    ids = list(queryset.values_list("pk", flat=True))
    with transaction.atomic():
        selected = list(
            Doctor.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        )
        doctors = [doctor for doctor in selected if doctor.is_active != active]
        already = [doctor for doctor in selected if doctor.is_active == active]
        if not doctors:
            return ActiveChange(0, already)
        now = timezone.now()
        Doctor.objects.filter(pk__in=[doctor.pk for doctor in doctors]).update(
            is_active=active, updated_at=now
        )
        for doctor in doctors:
            doctor.is_active = active
            doctor.updated_at = now
        actor = context.current().actor
        change_set = context.current_change_set()
        Doctor.history.bulk_history_create(
            doctors,
            update=True,
            default_user=actor,
            default_change_reason=change_set.reason[:100] if change_set else "",
            custom_historical_attrs={"change_set": change_set},
        )
        context.count("doctor", len(doctors))
        state = "active" if active else "inactive"
        dashboard.bump_generation_on_commit()
        activity.record_bulk(
            verb=ActivityEvent.Verb.BULK_UPDATED,
            target_type="doctor",
            description=f"{len(doctors)} doctors marked {state}",
            counts={"doctors": len(doctors), "is_active": active},
        )
    return ActiveChange(len(doctors), already)
