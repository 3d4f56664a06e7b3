"""Changes that touch many rows at once, done in bulk with their history."""

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .models import Doctor


def set_doctors_active(queryset: QuerySet[Doctor], *, active: bool) -> int:
    """Mark the doctors of `queryset` active or inactive; return how many changed.

    One UPDATE for all rows, and one history row per doctor that really changed,
    written in bulk.
    """
    ids = list(queryset.values_list("pk", flat=True))
    with transaction.atomic():
        doctors = list(
            Doctor.objects.select_for_update()
            .filter(pk__in=ids)
            .exclude(is_active=active)
            .order_by("pk")
        )
        if not doctors:
            return 0
        now = timezone.now()
        Doctor.objects.filter(pk__in=[doctor.pk for doctor in doctors]).update(
            is_active=active, updated_at=now
        )
        for doctor in doctors:
            doctor.is_active = active
            doctor.updated_at = now
        Doctor.history.bulk_history_create(doctors, update=True)
    return len(doctors)
