"""Put a doctor or a department back to how it stood at a moment of its history.

Fields and membership periods both: `plan_revert` says what a revert would change
and which parts cannot be done (the conflicts), `apply_revert` does it in one
transaction through the models' own saves and deletes, so the feed, the
history rows and the cache bump are written as for any other change, and a
revert can itself be reverted.

Memberships are periods, and a revert works per period (by its id): a period
recorded at the moment gets its first and last day, role and primary flag
back (or is created again), a period recorded since is removed (cancelled:
as the records stood then, it never was). A doctor with several periods in
one department, or a period split by a change on a date since, is restored
period by period.

A conflict is a part of the old state that today's data no longer allows: a
department or doctor deleted since, a code, name, license number or email now
used by another record, a head role another doctor now holds on some of the
period's days, a primary flag the doctor now has in a department outside the
revert on some of them. A plan with conflicts is applied only when the user
chooses to skip them.
"""

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower

from .. import context, periods
from ..ledger import erasure
from ..models import (
    Department,
    Doctor,
    Membership,
    membership_save_order,
)
from ..resources import DEPARTMENT_COLUMNS, DOCTOR_COLUMNS
from .moments import (
    HistoricalMembership,
    MembershipThen,
    memberships_at,
    newest_up_to,
    object_at,
)

# The fields a revert restores: the tracked ones a user edits.
# A record's own fields, as the Resources declare them (memberships apart).
REVERTED_FIELDS = {
    Doctor: tuple(name for name in DOCTOR_COLUMNS if name != "departments"),
    Department: DEPARTMENT_COLUMNS,
}
MEMBERSHIP_FIELDS = ("joined_on", "left_on", "role", "is_primary")
ADD = "add"
REMOVE = "remove"
CHANGE = "change"


class RevertError(Exception):
    """The revert cannot be done at all (nothing was changed)."""


@dataclass
class FieldChange:
    name: str
    label: str
    now: Any
    then: Any
    conflict: str = ""


@dataclass
class MembershipStep:
    action: str
    other_id: int  # the department of a doctor's revert, the doctor of a department's
    other_text: str
    now: Membership | None
    then: MembershipThen | None
    conflict: str = ""

    @property
    def changes(self) -> dict[str, tuple[Any, Any]]:
        """field -> (now, then) for the fields the step changes."""
        result = {}
        for name in MEMBERSHIP_FIELDS:
            now = getattr(self.now, name) if self.now else None
            then = getattr(self.then, name) if self.then else None
            if now != then:
                result[name] = (now, then)
        return result

    @property
    def description(self) -> str:
        if self.action == REMOVE:
            return f"the period {self.now.period_text}"
        parts = []
        for name, (now, then) in self.changes.items():
            label = Membership._meta.get_field(name).verbose_name
            if self.action == ADD:
                parts.append(f"{label}: {_show(then)}")
            else:
                parts.append(f"{label}: {_show(now)} → {_show(then)}")
        return "; ".join(parts)


@dataclass
class RevertPlan:
    obj: Doctor | Department
    moment: datetime.datetime
    fields: list[FieldChange] = field(default_factory=list)
    memberships: list[MembershipStep] = field(default_factory=list)

    @property
    def conflicts(self) -> list[str]:
        return [c.conflict for c in self.fields if c.conflict] + [
            s.conflict for s in self.memberships if s.conflict
        ]

    @property
    def membership_counts(self) -> dict[str, int]:
        """How many memberships the revert restores, removes and changes."""
        counts = dict.fromkeys((ADD, REMOVE, CHANGE), 0)
        for step in self.memberships:
            counts[step.action] += 1
        return counts

    @property
    def is_empty(self) -> bool:
        return not self.fields and not self.memberships

    @property
    def digest(self) -> str:
        """Identifies what the plan would do: a confirm is refused when the data
        changed since the preview the user saw."""
        content = {
            "fields": [[c.name, _json(c.now), _json(c.then)] for c in self.fields],
            "memberships": [
                [
                    s.action,
                    s.other_id,
                    s.now.pk if s.now else None,
                    {k: [_json(a), _json(b)] for k, (a, b) in s.changes.items()},
                ]
                for s in self.memberships
            ],
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[
            :32
        ]


def _json(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _show(value: Any) -> str:
    if isinstance(value, datetime.date):
        from django.utils.formats import date_format

        return date_format(value)
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None or value == "":
        return "—"
    if value in Membership.Role.values:
        return Membership.Role(value).label.lower()
    return str(value)


def plan_revert(obj: Doctor | Department, moment: datetime.datetime) -> RevertPlan:
    """What reverting `obj` to `moment` would change, conflicts included."""
    refusal = erasure.revert_refusal(obj)
    if refusal:
        raise RevertError(refusal)
    model = type(obj)
    then = object_at(model, obj.pk, moment)
    if then is None:
        raise RevertError(
            f"{model._meta.verbose_name.capitalize()} “{obj}” did not exist at "
            f"{moment:%Y-%m-%d %H:%M:%S %Z}."
        )
    plan = RevertPlan(obj=obj, moment=moment)
    for name in REVERTED_FIELDS[model]:
        now_value, then_value = getattr(obj, name), getattr(then, name)
        if now_value != then_value:
            plan.fields.append(
                FieldChange(
                    name=name,
                    label=str(model._meta.get_field(name).verbose_name),
                    now=now_value,
                    then=then_value,
                    conflict=_field_conflict(obj, name, then_value),
                )
            )
    if model is Doctor:
        _plan_memberships(
            plan, own="doctor", other="department", other_model=Department
        )
    else:
        _plan_memberships(plan, own="department", other="doctor", other_model=Doctor)
    return plan


def _field_conflict(obj, name: str, value: Any) -> str:
    model = type(obj)
    others = model.objects.exclude(pk=obj.pk)
    if name == "email":
        taken = others.annotate(lower=Lower("email")).filter(lower=value.lower())
    elif model._meta.get_field(name).unique:
        taken = others.filter(**{name: value})
    else:
        return ""
    holder = taken.first()
    if holder is None:
        return ""
    return f"{name.replace('_', ' ')} “{value}” is now used by {holder}."


def _plan_memberships(plan: RevertPlan, *, own: str, other: str, other_model) -> None:
    """One step per period (by id) that differs between the moment and now."""
    obj = plan.obj
    then = {
        m.membership_id: m for m in memberships_at(plan.moment, **{f"{own}_id": obj.pk})
    }
    now = {
        m.pk: m for m in Membership.objects.filter(**{own: obj}).select_related(other)
    }
    for pk in set(then) & set(now):
        # An id reused since (SQLite may hand out a deleted row's id again)
        # names another period: the old one is restored, the new one removed.
        if then[pk].doctor_id != now[pk].doctor_id or (
            then[pk].department_id != now[pk].department_id
        ):
            now[-pk] = now.pop(pk)
    others = other_model.objects.in_bulk(
        {getattr(m, f"{other}_id") for m in [*then.values(), *now.values()]}
    )
    outside = _flags_outside(plan, own=own, other=other)
    steps = []
    for pk in set(then) | set(now):
        old, current = then.get(pk), now.get(pk)
        other_id = getattr(old or current, f"{other}_id")
        text = str(others[other_id]) if other_id in others else f"#{other_id} (deleted)"
        if old is None:
            steps.append(MembershipStep(REMOVE, other_id, text, now=current, then=None))
            continue
        step = MembershipStep(
            ADD if current is None else CHANGE, other_id, text, now=current, then=old
        )
        if current is not None and not step.changes:
            continue
        if other_id not in others:
            step.conflict = (
                f"{other_model._meta.verbose_name.capitalize()} #{other_id} "
                "was deleted since; its membership cannot be restored."
            )
        else:
            step.conflict = _outside_conflict(step, own, text, outside)
        steps.append(step)
    steps.sort(
        key=lambda s: (s.other_text, (s.then or s.now).joined_on, s.action != REMOVE)
    )
    plan.memberships.extend(steps)


def _flags_outside(plan: RevertPlan, *, own: str, other: str) -> dict[int, list]:
    """Flags held outside this revert, which the old periods may no longer
    get: the heads of the departments of a doctor's old head periods (other
    doctors'), the primary periods in other departments of a department's
    old primary members; by department (doctor's revert) or doctor. The old
    periods are named by a subquery, not a list: a department may have had
    more members than a query may have parameters."""
    flag = {"role": Membership.Role.HEAD} if own == "doctor" else {"is_primary": True}
    then = (
        newest_up_to(
            HistoricalMembership.objects.filter(**{f"{own}_id": plan.obj.pk}),
            plan.moment,
        )
        .exclude(history_type="-")
        .filter(**flag)
        .values(f"{other}_id")
    )
    found: dict[int, list] = {}
    for membership in (
        Membership.objects.filter(**{f"{other}_id__in": then}, **flag)
        .exclude(**{f"{own}_id": plan.obj.pk})
        .select_related("doctor", "department")
    ):
        found.setdefault(getattr(membership, f"{other}_id"), []).append(membership)
    return found


def _outside_conflict(step: MembershipStep, own: str, text: str, outside) -> str:
    old = step.then
    if own == "doctor" and old.role != Membership.Role.HEAD:
        return ""
    if own == "department" and not old.is_primary:
        return ""
    for other in outside.get(step.other_id, []):
        if other.left_on is not None and other.left_on < old.joined_on:
            continue
        if old.left_on is not None and old.left_on < other.joined_on:
            continue
        if own == "doctor":
            return (
                f"{text} now has another head {other.period_text} (doctor "
                f"{other.doctor.license_number}); the head role cannot be restored."
            )
        return (
            f"{text} now has {other.department.code} as primary department "
            f"{other.period_text}; the primary flag cannot be restored."
        )
    return ""


@transaction.atomic
def apply_revert(
    obj: Doctor | Department,
    moment: datetime.datetime,
    *,
    expected_digest: str | None = None,
    skip_conflicts: bool = False,
) -> RevertPlan:
    """Revert `obj` to `moment`; return the plan that was applied.

    Refused (RevertError, nothing changed) when the plan has conflicts and
    `skip_conflicts` is false, or when it no longer matches `expected_digest`.
    """
    model = type(obj)
    obj = model.objects.select_for_update().get(pk=obj.pk)
    plan = plan_revert(obj, moment)
    if expected_digest is not None and plan.digest != expected_digest:
        raise RevertError(
            "The data changed since the preview; check the new preview and "
            "confirm again."
        )
    if plan.conflicts and not skip_conflicts:
        raise RevertError("The revert has conflicts: " + " ".join(plan.conflicts))
    # The history rows say why: the reason the user gave the change-set, or
    # which moment the record went back to.
    reason = (context.current().reason or f"Revert to {moment:%Y-%m-%d %H:%M:%S %Z}")[
        :100
    ]
    steps = [s for s in plan.memberships if not s.conflict]
    for step in steps:
        if step.action == REMOVE:
            step.now._change_reason = reason
            step.now.cancel()
    fields = [c for c in plan.fields if not c.conflict]
    if fields:
        for change in fields:
            setattr(obj, change.name, change.then)
        obj._change_reason = reason
        try:
            obj.full_clean()
        except ValidationError as error:
            raise RevertError(
                "The old values are not valid today: " + "; ".join(error.messages)
            ) from None
        obj.save()
    _restore_periods([s for s in steps if s.action != REMOVE], reason)
    return plan


def _restore_periods(steps: list[MembershipStep], reason: str) -> None:
    """Save the restored periods one by one, each when the rules allow it.

    The database holds the rules at every statement, and the periods of one
    revert may pass their days, head roles and primary flags between them
    (a period that shrinks makes room for one that grows): so each pass saves
    the periods that conflict with nothing stored, until all are saved. A
    period still in conflict after that conflicts with the state the revert
    leaves (a part skipped), and is refused with the other period named.
    """
    pending = []
    taken = set(
        Membership.objects.filter(
            pk__in=[s.then.membership_id for s in steps if s.action == ADD]
        ).values_list("pk", flat=True)
    )
    for step in sorted(steps, key=_save_order):
        if step.action == ADD:
            membership = Membership(
                doctor_id=step.then.doctor_id, department_id=step.then.department_id
            )
            if step.then.membership_id not in taken:
                # Restored under its own id, its history goes on.
                membership.pk = step.then.membership_id
        else:
            membership = step.now
        for name in MEMBERSHIP_FIELDS:
            setattr(membership, name, getattr(step.then, name))
        membership._change_reason = reason
        # A period brought back reads as a start in the feed; one rewritten
        # in place, as a correction of its days, role or flag.
        membership.period_event = (
            periods.PeriodEvent.STARTED
            if step.action == ADD
            else periods.PeriodEvent.CORRECTED
        )
        pending.append((membership, step.action == ADD))
    while pending:
        waiting = [(m, new) for m, new in pending if m.conflicts()]
        if len(waiting) == len(pending):
            membership = pending[0][0]
            try:
                membership.clean()
            except ValidationError as error:
                raise RevertError(
                    f"{membership} cannot be restored {membership.period_text}: "
                    + " ".join(error.messages)
                ) from None
            raise RevertError(
                f"{membership} cannot be restored {membership.period_text}."
            )
        stuck = {id(m) for m, _ in waiting}
        for membership, new in pending:
            if id(membership) not in stuck:
                membership.save(force_insert=new)
        pending = waiting


def _save_order(step: MembershipStep) -> tuple[bool, bool]:
    before = step.now or step.then
    return membership_save_order(
        was_head=before.role == Membership.Role.HEAD,
        was_primary=before.is_primary,
        is_head=step.then.role == Membership.Role.HEAD,
        is_primary=step.then.is_primary,
    )
