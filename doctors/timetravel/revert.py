"""Put a doctor or a department back to how it stood at a moment of its history.

Fields and memberships both: `plan_revert` says what a revert would change
and which parts cannot be done (the conflicts), `apply_revert` does it in one
transaction through the models' own saves and deletes, so the feed, the
history rows and the cache bump are written as for any other change, and a
revert can itself be reverted.

A conflict is a part of the old state that today's data no longer allows: a
department or doctor deleted since, a code, name, license number or email now
used by another record, a head role another doctor now holds, a primary flag
the doctor now has in a department outside the revert. A plan with conflicts
is applied only when the user chooses to skip them.
"""

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower

from .. import context
from ..ledger import erasure
from ..models import Department, Doctor, Membership, membership_save_order
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
MEMBERSHIP_FIELDS = ("role", "is_primary", "joined_on")
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
        parts = []
        for name, (now, then) in self.changes.items():
            if self.action == ADD:
                parts.append(f"{name.replace('_', ' ')}: {_show(then)}")
            elif self.action == CHANGE:
                parts.append(f"{name.replace('_', ' ')}: {_show(now)} → {_show(then)}")
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
    obj = plan.obj
    then = {
        getattr(m, f"{other}_id"): m
        for m in memberships_at(plan.moment, **{f"{own}_id": obj.pk})
    }
    now = {
        getattr(m, f"{other}_id"): m
        for m in Membership.objects.filter(**{own: obj}).select_related(other)
    }
    others = other_model.objects.in_bulk(set(then) | set(now))
    # Flags held outside this revert, which the old state may no longer get:
    # a department's head (doctor's revert), a doctor's primary (department's).
    # The members of then are named by a subquery, not a list: a department
    # may have had more members than a query may have parameters.
    members_then = (
        newest_up_to(
            HistoricalMembership.objects.filter(**{f"{own}_id": obj.pk}), plan.moment
        )
        .exclude(history_type="-")
        .values(f"{other}_id")
    )
    if own == "doctor":
        outside = dict(
            Membership.objects.filter(
                department_id__in=members_then, role=Membership.Role.HEAD
            )
            .exclude(doctor=obj)
            .values_list("department_id", "doctor__license_number")
        )
    else:
        outside = dict(
            Membership.objects.filter(doctor_id__in=members_then, is_primary=True)
            .exclude(department=obj)
            .values_list("doctor_id", "department__code")
        )
    for other_id in sorted(
        set(then) | set(now), key=lambda pk: str(others.get(pk, pk))
    ):
        old, current = then.get(other_id), now.get(other_id)
        text = str(others[other_id]) if other_id in others else f"#{other_id} (deleted)"
        if old is None:
            plan.memberships.append(
                MembershipStep(REMOVE, other_id, text, now=current, then=None)
            )
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
        elif (
            own == "doctor" and old.role == Membership.Role.HEAD and other_id in outside
        ):
            step.conflict = (
                f"{text} now has another head (doctor {outside[other_id]}); "
                "the head role cannot be restored."
            )
        elif own == "department" and old.is_primary and other_id in outside:
            step.conflict = (
                f"{text} now has {outside[other_id]} as primary department; "
                "the primary flag cannot be restored."
            )
        plan.memberships.append(step)


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
    # Rows that give up a head role or a primary flag go first, then rows that
    # take one: the database allows one of each at every moment.
    for step in steps:
        if step.action == REMOVE:
            step.now._change_reason = reason
            step.now.delete()
    changes = [s for s in steps if s.action == CHANGE]
    changes.sort(key=_save_order)
    for step in changes:
        for name in MEMBERSHIP_FIELDS:
            setattr(step.now, name, getattr(step.then, name))
        step.now._change_reason = reason
        step.now.save()
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
    for step in steps:
        if step.action == ADD:
            membership = Membership(
                **{
                    "doctor_id": step.then.doctor_id,
                    "department_id": step.then.department_id,
                    "role": step.then.role,
                    "is_primary": step.then.is_primary,
                    "joined_on": step.then.joined_on,
                }
            )
            membership._change_reason = reason
            membership.save()
    return plan


def _save_order(step: MembershipStep) -> tuple[bool, bool]:
    return membership_save_order(
        was_head=step.now.role == Membership.Role.HEAD,
        was_primary=step.now.is_primary,
        is_head=step.then.role == Membership.Role.HEAD,
        is_primary=step.then.is_primary,
    )
