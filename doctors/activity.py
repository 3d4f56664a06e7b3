"""The change-history feed: one ActivityEvent per change, whatever made it.

Signal receivers call these functions for single saves; bulk paths call
`record_bulk` once instead of letting a receiver run per row. Events are written
in the caller's transaction, so a rollback leaves none. The dashboard's cache
is not this module's business: the receivers (doctors.signals) and the bulk
paths bump its generation.
"""

import datetime
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from . import context
from .models import ActivityEvent, Department, Doctor, Membership

# Timestamps that change on every save say nothing a reader needs.
UNTRACKED_FIELDS = {"id", "created_at", "updated_at"}
TARGET_TYPES = {Doctor: "doctor", Department: "department"}
Verb = ActivityEvent.Verb


@dataclass
class MembershipChange:
    """One membership change, normalised whichever road it came by."""

    verb: str
    doctor_id: int
    doctor_text: str
    department_id: int
    department_text: str
    changes: dict[str, list[Any]] = field(default_factory=dict)


def _json(value: Any) -> Any:
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value


def tracked_values(instance: models.Model) -> dict[str, Any]:
    return {
        f.attname: getattr(instance, f.attname)
        for f in instance._meta.concrete_fields
        if f.attname not in UNTRACKED_FIELDS
    }


def pending_changes(instance: models.Model) -> dict[str, list[Any]] | None:
    """Fields a save of `instance` will change, old -> new; None for a new row.

    Uses the values remembered when the row was read; a row built by hand with
    an existing primary key is read once to compare.
    """
    if instance.pk is None:
        return None
    loaded = getattr(instance, "_loaded_values", None)
    if loaded is None:
        loaded = (
            type(instance)
            ._base_manager.filter(pk=instance.pk)
            .values(*tracked_values(instance))
            .first()
        )
        if loaded is None:
            return None
    return {
        name: [_json(loaded[name]), _json(new)]
        for name, new in tracked_values(instance).items()
        if name in loaded and loaded[name] != new
    }


def remember_saved_values(instance: models.Model) -> None:
    """After a save, the next save of the same object diffs against this one."""
    instance._loaded_values = {
        f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields
    }


def _actor_fields() -> dict[str, Any]:
    current = context.current()
    actor = current.actor
    context.count("events")
    return {
        "actor": actor,
        "actor_name": actor.get_username() if actor is not None else "",
        "source": current.source,
        "change_set": context.current_change_set(),
    }


def record_saved(
    instance: Doctor | Department,
    *,
    created: bool,
    changes: dict[str, list[Any]] | None,
) -> ActivityEvent | None:
    if created:
        changes = {
            name: [None, _json(value)]
            for name, value in tracked_values(instance).items()
            if value not in (None, "")
        }
    elif not changes:
        return None
    return ActivityEvent.objects.create(
        verb=Verb.CREATED if created else Verb.UPDATED,
        target_type=TARGET_TYPES[type(instance)],
        target_id=instance.pk,
        target_text=str(instance)[:255],
        changes=changes,
        **_actor_fields(),
    )


def record_deleted(instance: Doctor | Department) -> ActivityEvent:
    return ActivityEvent.objects.create(
        verb=Verb.DELETED,
        target_type=TARGET_TYPES[type(instance)],
        target_id=instance.pk,
        target_text=str(instance)[:255],
        changes={
            name: [_json(value), None]
            for name, value in tracked_values(instance).items()
            if value not in (None, "")
        },
        **_actor_fields(),
    )


def record_membership_change(change: MembershipChange) -> ActivityEvent:
    """Write the event and remember the change for the admin's message."""
    context.current().membership_changes.append(change)
    return ActivityEvent.objects.create(
        verb=change.verb,
        target_type="doctor",
        target_id=change.doctor_id,
        target_text=change.doctor_text[:255],
        department_id=change.department_id,
        department_text=change.department_text[:255],
        changes=change.changes,
        **_actor_fields(),
    )


def record_bulk(
    *, verb: str, target_type: str, description: str, counts: dict[str, Any]
) -> ActivityEvent:
    """One event for work on many rows (an import, an admin action)."""
    return ActivityEvent.objects.create(
        verb=verb,
        target_type=target_type,
        target_text=description[:255],
        counts=counts,
        **_actor_fields(),
    )


# Names of doctors and departments whose memberships are about to be deleted
# with them, read in one query instead of one per deleted membership.
_cascade_names: ContextVar[dict[tuple[str, int], str] | None] = ContextVar(
    "clinic_cascade_names", default=None
)


def remember_names_before_cascade(instance: Doctor | Department) -> None:
    side = "department" if isinstance(instance, Doctor) else "doctor"
    own = "doctor" if side == "department" else "department"
    names = {(own, instance.pk): str(instance)}
    for membership in Membership.objects.filter(**{own: instance}).select_related(side):
        related = getattr(membership, side)
        names[(side, related.pk)] = str(related)
    _cascade_names.set(names)


def forget_cascade_names() -> None:
    _cascade_names.set(None)


def _name_of(membership: Membership, side: str) -> str:
    related_id = getattr(membership, f"{side}_id")
    cached = membership._state.fields_cache.get(side)
    if cached is not None:
        return str(cached)
    names = _cascade_names.get() or {}
    if (side, related_id) in names:
        return names[(side, related_id)]
    return str(getattr(membership, side))


MEMBERSHIP_FIELDS = ("role", "is_primary", "joined_on")


def membership_change(
    membership: Membership, verb: str, changes: dict[str, list[Any]] | None = None
) -> MembershipChange:
    if changes is None:
        values = [
            (name, _json(getattr(membership, name))) for name in MEMBERSHIP_FIELDS
        ]
        if verb == Verb.MEMBERSHIP_ADDED:
            changes = {name: [None, value] for name, value in values}
        else:
            changes = {name: [value, None] for name, value in values}
    return MembershipChange(
        verb=verb,
        doctor_id=membership.doctor_id,
        doctor_text=_name_of(membership, "doctor"),
        department_id=membership.department_id,
        department_text=_name_of(membership, "department"),
        changes=changes,
    )


def record_membership_saved(
    membership: Membership, *, created: bool, changes: dict[str, list[Any]] | None
) -> None:
    if created:
        record_membership_change(membership_change(membership, Verb.MEMBERSHIP_ADDED))
        return
    if not changes:
        return
    moved = {"doctor_id", "department_id"} & set(changes)
    if moved:
        # A row edited to point at another doctor or department: for the people
        # reading the feed that is a removal and an addition.
        before = Membership(
            doctor_id=changes.get("doctor_id", [membership.doctor_id])[0],
            department_id=changes.get("department_id", [membership.department_id])[0],
            role=changes.get("role", [membership.role])[0],
            is_primary=changes.get("is_primary", [membership.is_primary])[0],
            joined_on=membership._loaded_values.get("joined_on"),
        )
        record_membership_change(membership_change(before, Verb.MEMBERSHIP_REMOVED))
        record_membership_change(membership_change(membership, Verb.MEMBERSHIP_ADDED))
        return
    record_membership_change(
        membership_change(membership, Verb.MEMBERSHIP_CHANGED, changes)
    )


def record_memberships_added(
    *, instance: Doctor | Department, pk_set: set[int], reverse: bool
) -> None:
    """Memberships made by `add()`/`set()` from either side (no post_save fires)."""
    if reverse:  # department.doctors.add(...)
        lookup = {"department": instance, "doctor_id__in": pk_set}
    else:  # doctor.departments.add(...)
        lookup = {"doctor": instance, "department_id__in": pk_set}
    added = Membership.objects.filter(**lookup).select_related("doctor", "department")
    for membership in added.order_by("pk"):
        remember_saved_values(membership)
        record_membership_change(membership_change(membership, Verb.MEMBERSHIP_ADDED))


def summarize(event: ActivityEvent, *, limit: int = 160) -> str:
    """One line saying what an event changed, for lists and the dashboard."""
    if event.counts:
        text = ", ".join(f"{name}: {value}" for name, value in event.counts.items())
    elif event.verb in (Verb.CREATED, Verb.DELETED, Verb.MEMBERSHIP_REMOVED):
        text = event.get_verb_display()
        if event.department_text:
            text = f"{text}: {event.department_text}"
    else:
        parts = [
            f"{name.removesuffix('_id')}: {_show(old)} → {_show(new)}"
            for name, (old, new) in event.changes.items()
            if old is not None or event.verb != Verb.MEMBERSHIP_ADDED
        ]
        text = "; ".join(parts)
        if event.department_text:
            prefix = event.department_text
            text = f"{prefix} ({text})" if text else prefix
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def describe_membership_change(event: ActivityEvent) -> str:
    """e.g. "role: member → head" or "as head, primary", for history pages."""
    changes = event.changes or {}
    if event.verb == Verb.MEMBERSHIP_CHANGED:
        return "; ".join(
            f"{name.replace('_', ' ')}: {_show(old)} → {_show(new)}"
            for name, (old, new) in changes.items()
        )
    index = 1 if event.verb == Verb.MEMBERSHIP_ADDED else 0
    role = (changes.get("role") or [None, None])[index]
    primary = (changes.get("is_primary") or [None, None])[index]
    parts = [f"as {role}" if role else "", "primary" if primary else ""]
    return ", ".join(part for part in parts if part)
