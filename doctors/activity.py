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

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.fields.json import KT
from django.utils.formats import date_format, localize

from . import context, period_words, periods
from .models import ActivityEvent, Department, Doctor, Membership
from .period_words import EVENT_KEY
from .periods import PeriodEvent

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

    @property
    def period_event(self) -> str | None:
        return period_words.event_of(self.changes)


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


MEMBERSHIP_FIELDS = period_words.PERIOD_FIELDS
# The verb of a feed event for each kind of period change (the kind itself
# rides in the event's changes: period_words.EVENT_KEY).
VERB_OF_EVENT = {
    PeriodEvent.STARTED: Verb.MEMBERSHIP_ADDED,
    PeriodEvent.ENDED: Verb.MEMBERSHIP_REMOVED,
    PeriodEvent.CANCELLED: Verb.MEMBERSHIP_REMOVED,
    PeriodEvent.CHANGED: Verb.MEMBERSHIP_CHANGED,
    PeriodEvent.CORRECTED: Verb.MEMBERSHIP_CHANGED,
}


def period_event_of(
    membership: Membership,
    *,
    created: bool = False,
    deleted: bool = False,
    changes: dict[str, list[Any]] | None = None,
) -> str | None:
    """What a save or delete did to a period: the `period_event` the code that
    made it set (doctors.period_changes, MembershipQuerySet.end), or inferred
    from the row for the roads that set none: a new row starts a period, a
    last day set on an open period ends it, any other edit of a period's own
    values corrects it, and deleting a period that had not started cancels
    it. None for a period deleted with its doctor or department."""
    explicit = getattr(membership, "period_event", None)
    if explicit:
        return PeriodEvent(explicit)
    if created:
        return PeriodEvent.STARTED
    if deleted:
        if membership.joined_on is not None and membership.joined_on >= periods.today():
            return PeriodEvent.CANCELLED
        return None
    changed = set(changes or {}) & set(MEMBERSHIP_FIELDS)
    if changed == {"left_on"} and changes["left_on"][0] is None:
        return PeriodEvent.ENDED
    return PeriodEvent.CORRECTED


def membership_change(
    membership: Membership,
    verb: str,
    changes: dict[str, list[Any]] | None = None,
    *,
    event: str | None = None,
) -> MembershipChange:
    if changes is None:
        values = [
            (name, _json(getattr(membership, name))) for name in MEMBERSHIP_FIELDS
        ]
        if verb == Verb.MEMBERSHIP_ADDED:
            changes = {name: [None, value] for name, value in values}
        else:
            changes = {name: [value, None] for name, value in values}
    if event is not None:
        changes = {**changes, EVENT_KEY: [None, str(event)]}
    return MembershipChange(
        verb=verb,
        doctor_id=membership.doctor_id,
        doctor_text=_name_of(membership, "doctor"),
        department_id=membership.department_id,
        department_text=_name_of(membership, "department"),
        changes=changes,
    )


# A change on a date saves the period that ends first (its last day only),
# then the one that starts: the role and flag the first held are kept here
# for the second's event ("Head of Cardiology from 2 Mar 2026 (was member)"),
# which is the one event of the change. Keyed by doctor, department and the
# day the next period starts.
_ended_by_change: ContextVar[dict | None] = ContextVar(
    "clinic_ended_by_change", default=None
)


def _remember_ended_by_change(membership: Membership) -> None:
    held = _ended_by_change.get()
    if held is None:
        held = {}
        _ended_by_change.set(held)
    key = (
        membership.doctor_id,
        membership.department_id,
        membership.left_on + periods.ONE_DAY,
    )
    held[key] = (membership.role, membership.is_primary)


def _held_before(membership: Membership) -> tuple[str, bool] | None:
    """The role and flag of the period that ended the day before
    `membership` started (see _ended_by_change; read from the database
    when the change came another way)."""
    key = (membership.doctor_id, membership.department_id, membership.joined_on)
    held = (_ended_by_change.get() or {}).pop(key, None)
    if held is not None:
        return held
    return (
        Membership.objects.filter(
            doctor_id=membership.doctor_id,
            department_id=membership.department_id,
            left_on=membership.joined_on - periods.ONE_DAY,
        )
        .values_list("role", "is_primary")
        .first()
    )


def record_membership_saved(
    membership: Membership, *, created: bool, changes: dict[str, list[Any]] | None
) -> None:
    event = period_event_of(membership, created=created, changes=changes)
    if created:
        values = None
        if event == PeriodEvent.CHANGED:
            held = _held_before(membership)
            values = {
                name: [None, _json(getattr(membership, name))]
                for name in MEMBERSHIP_FIELDS
            }
            if held is not None:
                values["role"][0], values["is_primary"][0] = held
        record_membership_change(
            membership_change(membership, VERB_OF_EVENT[event], values, event=event)
        )
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
            left_on=membership._loaded_values.get("left_on"),
        )
        record_membership_change(membership_change(before, Verb.MEMBERSHIP_REMOVED))
        record_membership_change(
            membership_change(
                membership, Verb.MEMBERSHIP_ADDED, event=PeriodEvent.STARTED
            )
        )
        return
    if event == PeriodEvent.CHANGED and set(changes) == {"left_on"}:
        # The first half of a change on a date: the period that starts next
        # tells the change (one event), with what this one held.
        _remember_ended_by_change(membership)
        return
    if event == PeriodEvent.CHANGED:
        # Changed from the period's own first day: the sentence's date.
        day = _json(membership.joined_on)
        changes = {"joined_on": [day, day], **changes}
    record_membership_change(
        membership_change(membership, VERB_OF_EVENT[event], changes, event=event)
    )


def record_membership_deleted(membership: Membership) -> None:
    """A period deleted: cancelled (it never happened), or deleted with its
    doctor or department."""
    event = period_event_of(membership, deleted=True)
    record_membership_change(
        membership_change(membership, Verb.MEMBERSHIP_REMOVED, event=event)
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
    for membership in newest_periods(added):
        remember_saved_values(membership)
        record_membership_change(
            membership_change(
                membership, Verb.MEMBERSHIP_ADDED, event=PeriodEvent.STARTED
            )
        )


def newest_periods(memberships) -> list[Membership]:
    """The newest period of each doctor in each department among
    `memberships`: what `add()` just inserted, without the periods the
    doctor had there before."""
    newest = {}
    for membership in memberships.order_by("pk"):
        newest[(membership.doctor_id, membership.department_id)] = membership
    return sorted(newest.values(), key=lambda membership: membership.pk)


# How a change-set with no name of its own is named after its events, e.g.
# "Removed 3 doctors from Cardiology". {n} is the count, {what} the doctor(s)
# or department(s), {where} the department.
_EVENT_SENTENCES = {
    Verb.MEMBERSHIP_ADDED: "Added {n} {what} to {where}",
    Verb.MEMBERSHIP_REMOVED: "Removed {n} {what} from {where}",
    Verb.MEMBERSHIP_CHANGED: "Changed the membership of {n} {what} in {where}",
    Verb.CREATED: "Added {n} {what}",
    Verb.UPDATED: "Changed {n} {what}",
    Verb.DELETED: "Deleted {n} {what}",
    Verb.BULK_CREATED: "Added {what} in bulk",
    Verb.BULK_UPDATED: "Changed {what} in bulk",
    Verb.IMPORTED: "Imported {what}",
    Verb.UNDONE: "Undid changes to {what}",
}
# Membership events by what they did to periods (period_words.EVENT_KEY).
_PERIOD_SENTENCES = {
    PeriodEvent.STARTED: "Added {n} {what} to {where}",
    PeriodEvent.ENDED: "Removed {n} {what} from {where}",
    PeriodEvent.CANCELLED: "Removed {n} {what} from {where}",
    PeriodEvent.CHANGED: "Changed the role or primary department of {n} {what} "
    "in {where}",
    PeriodEvent.CORRECTED: "Corrected the membership dates of {n} {what} in {where}",
}
_NAMED_GROUPS = 3


def name_after_events(change_set, counts: dict[str, int]) -> str:
    """A change-set's name from what its events did: "Removed 3 doctors from
    Cardiology; Added 1 doctor to Neurology". One grouped query, bounded."""

    groups = list(
        ActivityEvent.objects.filter(change_set=change_set)
        .values(
            "verb",
            "target_type",
            "department_text",
            period=KT(f"changes__{EVENT_KEY}__1"),
        )
        .annotate(n=models.Count("id"), name=models.Min("target_text"))
        .order_by("-n", "verb", "period", "department_text")[: _NAMED_GROUPS + 1]
    )
    sentences = []
    for group in groups[:_NAMED_GROUPS]:
        n = group["n"]
        kind = "doctor" if group["verb"].startswith("membership") else None
        kind = kind or group["target_type"] or "record"
        sentence = _PERIOD_SENTENCES.get(group["period"]) or _EVENT_SENTENCES.get(
            group["verb"], "Changed {n} {what}"
        )
        if n == 1 and group["verb"] not in _BULK_VERBS:
            # One record: named, "Changed Dr Ada Byron".
            sentence = sentence.replace("{n} {what}", "{name}")
        what = kind if n == 1 else f"{kind}s"
        sentences.append(
            sentence.format(
                n=localize(n),
                what=what,
                name=group["name"],
                where=group["department_text"] or "—",
            )
        )
    if len(groups) > _NAMED_GROUPS:
        sentences.append("and more")
    if sentences:
        return "; ".join(sentences)
    rows = sum(counts.values())
    return f"Changed {localize(rows)} record{'s' if rows != 1 else ''}"


_BULK_VERBS = {Verb.BULK_CREATED, Verb.BULK_UPDATED, Verb.IMPORTED, Verb.UNDONE}


def verb_label(event: ActivityEvent) -> str:
    """What happened, in words: the verb's label, except that the undo of an
    undo is a redo. Reads event.change_set.undoes: select_related it."""
    period_event = period_words.event_of(event.changes)
    if period_event is not None:
        return period_words.event_label(period_event)
    if event.verb == Verb.UNDONE and event.change_set_id is not None:
        reversed_set = event.change_set.undoes
        if reversed_set is not None and reversed_set.undoes_id is not None:
            return "Redone"
    return event.get_verb_display()


def summarize(event: ActivityEvent, *, limit: int = 160) -> str:
    """One line saying what an event changed, for lists and the dashboard, in
    the clinic's words: "Specialty: Ophthalmology → Internal medicine",
    "4 memberships added"."""
    period_event = period_words.event_of(event.changes)
    if event.counts:
        text = describe_counts(event.counts)
    elif period_event is not None:
        text = period_words.feed_sentence(
            period_event, event.department_text or "—", event.changes
        )
    elif event.verb in (Verb.CREATED, Verb.DELETED, Verb.MEMBERSHIP_REMOVED):
        text = event.get_verb_display()
        if event.department_text:
            text = f"{text}: {event.department_text}"
    else:
        model = changed_model(event)
        parts = [
            f"{field_label(model, name)}: {value_label(model, name, old)}"
            f" → {value_label(model, name, new)}"
            for name, (old, new) in event.changes.items()
            if old is not None or event.verb != Verb.MEMBERSHIP_ADDED
        ]
        text = "; ".join(parts)
        if event.department_text:
            prefix = event.department_text
            text = f"{prefix} ({text})" if text else prefix
    return text if len(text) <= limit else text[: limit - 1] + "…"


def changed_model(event: ActivityEvent) -> type[models.Model]:
    """The model whose fields `event.changes` names."""
    if event.verb in (
        Verb.MEMBERSHIP_ADDED,
        Verb.MEMBERSHIP_CHANGED,
        Verb.MEMBERSHIP_REMOVED,
    ):
        return Membership
    return Department if event.target_type == "department" else Doctor


def field_label(model: type[models.Model], name: str) -> str:
    """A field's verbose name ("Joined on"), or the name in words if the
    model has no such field any more."""
    try:
        verbose = model._meta.get_field(name).verbose_name
    except FieldDoesNotExist:
        verbose = name.removesuffix("_id").replace("_", " ")
    verbose = str(verbose)
    return verbose[:1].upper() + verbose[1:]


def value_label(model: type[models.Model], name: str, value: Any) -> str:
    """A stored value as staff read it: a choice's label, yes/no, a date in
    the clinic's format, "—" for nothing."""
    if value is None or value == "":
        return "—"
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, models.BooleanField) and value in ("true", "false"):
        value = value == "true"  # as an import file writes it
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return date_format(value)
    if isinstance(field, models.DateField) and isinstance(value, str):
        try:
            return date_format(datetime.date.fromisoformat(value[:10]))
        except ValueError:
            return value
    return str(value)


# The counts a bulk event carries, in words. A callable takes the value; a
# string is the noun after the number.
COUNT_WORDS: dict[str, Any] = {
    "file": lambda value: f"file {value}",
    "rows": "rows",
    "created": "created",
    "updated": "updated",
    "unchanged": "unchanged",
    "doctors": "doctors",
    "departments": "departments",
    "memberships": "memberships",
    "memberships_added": "memberships added",
    "memberships_changed": "memberships changed",
    "memberships_removed": "memberships removed",
    "changed_since_preview": "rows changed since the preview",
    "errors": "problems",
    "import_run": lambda value: f"import #{value}",
    "undoes": lambda value: f"reverses change-set #{value}",
    "is_active": lambda value: "made active" if value else "made inactive",
}


def describe_counts(counts: dict[str, Any]) -> str:
    """e.g. "file doctors.csv, 120 rows, 4 memberships added"."""
    parts = []
    for name, value in counts.items():
        if isinstance(value, list | dict):
            value = len(value)
        words = COUNT_WORDS.get(name, name.replace("_", " "))
        if callable(words):
            parts.append(words(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{localize(value)} {words}")
        else:
            parts.append(f"{words}: {value}")
    return ", ".join(parts)


def describe_membership_change(event: ActivityEvent) -> str:
    """e.g. "Role: Member → Head" or "as head, primary", for history pages."""
    changes = event.changes or {}
    period_event = period_words.event_of(changes)
    if period_event is not None:
        return period_words.feed_sentence(
            period_event, event.department_text or "—", changes
        )
    if event.verb == Verb.MEMBERSHIP_CHANGED:
        return "; ".join(
            f"{field_label(Membership, name)}: {value_label(Membership, name, old)}"
            f" → {value_label(Membership, name, new)}"
            for name, (old, new) in changes.items()
        )
    index = 1 if event.verb == Verb.MEMBERSHIP_ADDED else 0
    role = (changes.get("role") or [None, None])[index]
    primary = (changes.get("is_primary") or [None, None])[index]
    role_text = value_label(Membership, "role", role).lower() if role else ""
    parts = [f"as {role_text}" if role else "", "primary" if primary else ""]
    return ", ".join(part for part in parts if part)
