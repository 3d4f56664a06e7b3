"""Optimistic locking for the admin pages: no silently lost updates.

A page carries a version of what it showed: a digest of the object's row and its
membership rows. Saving compares it with the database under a row lock; if
anyone changed the object meanwhile, by any road, the save is refused with who
changed it and when.
"""

import hashlib

from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format

from .models import ActivityEvent, Department, Doctor, Membership

MEMBERSHIP_COLUMNS = (
    "pk",
    "doctor_id",
    "department_id",
    "role",
    "is_primary",
    "joined_on",
)


def _membership_filter(obj: Doctor | Department) -> Q:
    return Q(doctor_id=obj.pk) if isinstance(obj, Doctor) else Q(department_id=obj.pk)


def version_of(obj: Doctor | Department, *, lock: bool = False) -> str:
    """A digest of what the object's page shows, as stored now."""
    rows = type(obj)._base_manager.filter(pk=obj.pk)
    if lock:
        rows = rows.select_for_update()
    row = rows.values_list().first()
    memberships = (
        Membership.objects.filter(_membership_filter(obj))
        .order_by("pk")
        .values_list(*MEMBERSHIP_COLUMNS)
    )
    state = repr((row, list(memberships))).encode()
    return hashlib.sha256(state).hexdigest()[:32]


def last_change_description(obj: Doctor | Department) -> str:
    """'by alice at 24 Nov 2026 13:05', from the feed's latest event."""
    if isinstance(obj, Doctor):
        about = Q(target_type="doctor", target_id=obj.pk)
    else:
        about = Q(target_type="department", target_id=obj.pk) | Q(department_id=obj.pk)
    event = ActivityEvent.objects.filter(about).order_by("-occurred_at", "-id").first()
    if event is None:
        return "by someone else"
    who = event.actor_name or f"a {event.get_source_display().lower()} process"
    when = date_format(timezone.localtime(event.occurred_at), "DATETIME_FORMAT")
    return f"by {who} at {when}"
