"""Erasing the personal data nobody needs any more (PERSONAL_DATA_RETENTION_DAYS).

A doctor is due when inactive, in no department (every period ended before
the cutoff day: past periods are the record, not a reason to keep the data),
and nothing about them (the doctor or a membership) changed for longer than
the retention period. The task
worker looks once a day; each doctor is erased as in `manage.py erase_doctor`,
and one feed event reports the sweep.
"""

import datetime
import logging

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .. import activity, context, periods
from ..models import ActivityEvent, Doctor, Erasure, Membership
from . import erasure

logger = logging.getLogger(__name__)

# Doctors erased per sweep at most; the next day's sweep takes the rest.
BATCH = 500


def retention_days() -> int:
    return int(getattr(settings, "PERSONAL_DATA_RETENTION_DAYS", 0) or 0)


def due_doctors(*, now: datetime.datetime | None = None):
    days = retention_days()
    if days <= 0:
        return Doctor.objects.none()
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    cutoff_day = timezone.localdate(cutoff)
    recent_membership = Membership.history.filter(
        doctor_id=OuterRef("pk"), history_date__gte=cutoff
    )
    return (
        Doctor.objects.filter(is_active=False, updated_at__lt=cutoff)
        .exclude(
            Exists(
                Membership.objects.filter(doctor_id=OuterRef("pk")).filter(
                    periods.not_ended(cutoff_day)
                )
            )
        )
        .exclude(Exists(recent_membership))
        .exclude(Exists(Erasure.objects.filter(doctor_id=OuterRef("pk"))))
        .order_by("pk")
    )


def sweep(*, now: datetime.datetime | None = None) -> int:
    """Erase the doctors due; the number erased."""
    days = retention_days()
    if days <= 0:
        return 0
    reason = (
        f"Retention: inactive and in no department for more than {days} days "
        "(PERSONAL_DATA_RETENTION_DAYS)"
    )
    erased = 0
    for doctor in due_doctors(now=now)[:BATCH]:
        try:
            erasure.erase_doctor(
                doctor, reason=reason, source=ActivityEvent.Source.SYSTEM
            )
        except erasure.ErasureError:
            continue  # erased meanwhile
        erased += 1
    if erased:
        with context.acting_as(
            None,
            source=ActivityEvent.Source.SYSTEM,
            description="Personal data retention",
            reason=reason,
        ):
            activity.record_bulk(
                verb=ActivityEvent.Verb.ERASED,
                target_type="doctor",
                description=(
                    f"Retention: personal data of {erased} doctor(s) erased after "
                    f"{days} days inactive and in no department"
                ),
                counts={"doctors erased": erased, "retention days": days},
            )
        logger.info("Retention: personal data of %d doctor(s) erased", erased)
    return erased
