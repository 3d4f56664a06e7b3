"""Optimistic locking for the admin pages: no silently lost updates.

A page carries a version of what it showed: a digest of the object's row, and
for a doctor the membership rows its page edits. Saving compares it with the
database under a row lock; if anyone changed the object meanwhile, by any road,
the save is refused with who changed it and when.

A department's members are not on its page (they are managed on the member
list, each row with its own version), so a department's version is its row
alone: opening or saving it costs the same whatever its size.
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


# A doctor's page edits their memberships in place up to this many; beyond it
# they are managed on the membership list, like a department's members.
DOCTOR_INLINE_LIMIT = 30


def _digest(state) -> str:
    return hashlib.sha256(repr(state).encode()).hexdigest()[:32]


def lock_doctors(doctor_ids) -> None:
    """Lock doctors' rows before writing their memberships.

    A doctor's page checks its version (the doctor and their memberships)
    under a lock on the doctor's row, then saves the membership rows; every
    other writer of memberships takes the doctor's lock first too, so neither
    can change a membership between the other's check and save. Always doctor
    before membership, and doctors in primary key order: no deadlock.
    `doctor_ids` may be a list or a subquery.
    """
    list(
        Doctor.objects.select_for_update(no_key=True)
        .filter(pk__in=doctor_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def version_of(obj: Doctor | Department | Membership, *, lock: bool = False) -> str:
    """A digest of what the object's page shows, as stored now."""
    rows = type(obj)._base_manager.filter(pk=obj.pk)
    if lock:
        if isinstance(obj, Membership):
            lock_doctors(Membership.objects.filter(pk=obj.pk).values("doctor_id"))
        rows = rows.select_for_update()
    row = rows.values_list().first()
    if not isinstance(obj, Doctor):
        return _digest((row, []))
    memberships = list(
        Membership.objects.filter(doctor_id=obj.pk)
        .order_by("pk")
        .values_list(*MEMBERSHIP_COLUMNS)[: DOCTOR_INLINE_LIMIT + 1]
    )
    if len(memberships) > DOCTOR_INLINE_LIMIT:
        # Not on the page: each row has its own version on the membership list.
        memberships = []
    return _digest((row, memberships))


def row_version(instance: Membership) -> str:
    """The version of a row as it was read (no query): equal to
    `version_of(instance)` while nobody has changed the row since."""
    names = [f.attname for f in instance._meta.concrete_fields]
    loaded = getattr(instance, "_loaded_values", None)
    if loaded is not None:
        row = tuple(loaded[name] for name in names)
    else:
        row = tuple(getattr(instance, name) for name in names)
    return _digest((row, []))


def last_change_description(obj: Doctor | Department | Membership) -> str:
    """'by alice at 24 Nov 2026 13:05', from the feed's latest event."""
    if isinstance(obj, Doctor):
        about = Q(target_type="doctor", target_id=obj.pk)
    elif isinstance(obj, Membership):
        about = Q(
            target_type="doctor",
            target_id=obj.doctor_id,
            department_id=obj.department_id,
        )
    else:
        about = Q(target_type="department", target_id=obj.pk)
    event = ActivityEvent.objects.filter(about).order_by("-occurred_at", "-id").first()
    if event is None:
        return "by someone else"
    who = event.actor_name or f"a {event.get_source_display().lower()} process"
    when = date_format(timezone.localtime(event.occurred_at), "DATETIME_FORMAT")
    return f"by {who} at {when}"
