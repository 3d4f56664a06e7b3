"""The member list's actions: remove, make head, set or unset primary.

Each action locks the rows it changes, and for a head or a primary flag the
department or the doctors the rule is about, then re-reads them in the
transaction: what it saves, and what the feed says (old -> new), are the stored
values. The page sends the version of each row as it showed it (editing.
ROW_VERSION, beside the ticked box): a row someone changed since is refused and
the message names the doctor. A row already as asked is left alone and the
message says so, so a repeated or concurrent submission changes data once.
"""

from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.db.models import Q

from ... import concurrency
from ...models import (
    PRIMARY_RULE,
    RULE_WORDS,
    Department,
    Doctor,
    Membership,
)
from ..changesets import describe
from ..confirm_destroy import LISTED, confirmation_page
from ..naming import NAMED_AT_MOST
from .editing import posted_version

# Rows one action may change: each is its own save, feed event and history row,
# and the request must end well within the server's timeout.
ACTION_LIMIT = 500


@dataclass
class Outcome:
    """What an action found once it held the locks."""

    # Rows that were already as asked, each with the sentence saying so.
    already: list[str] = field(default_factory=list)
    # Why nothing was changed (a row changed meanwhile, a rule), if so.
    refused: list[str] = field(default_factory=list)


def _locked(condition: Q) -> list[Membership]:
    """The rows matching `condition`, locked in primary key order (the same
    order in every request, so two actions cannot deadlock) and re-read, their
    doctors locked first (concurrency.lock_doctors)."""
    concurrency.lock_doctors(Membership.objects.filter(condition).values("doctor_id"))
    return list(
        Membership.objects.select_for_update(of=("self",))
        .filter(condition)
        .select_related("doctor", "department")
        .order_by("pk")
    )


def _changed_since(request, rows: list[Membership]) -> list[str]:
    """Sentences for the rows whose posted version is not the stored one."""
    stale = [
        row
        for row in rows
        if posted_version(request.POST, row.pk)
        not in (None, concurrency.row_version(row))
    ]
    sentences = [
        f"{row.doctor} in {row.department} was changed "
        f"{concurrency.last_change_description(row)} since you opened this page"
        for row in stale[:NAMED_AT_MOST]
    ]
    if len(stale) > NAMED_AT_MOST:
        sentences.append(f"{len(stale) - NAMED_AT_MOST} more rows were changed too")
    return sentences


def _selected_pks(request) -> list[int]:
    return [
        int(value)
        for value in request.POST.getlist(ACTION_CHECKBOX_NAME)[: ACTION_LIMIT + 1]
        if value.isdigit()
    ]


def _already_removed(request, found: list[Membership]) -> list[str]:
    """Sentences for ticked rows that were removed before this request."""
    missing = set(_selected_pks(request)) - {row.pk for row in found}
    if not missing:
        return []
    removed = list(
        Membership.history.filter(id__in=missing, history_type="-")
        .order_by("id", "-history_date")
        .values_list("id", "doctor_id", "department_id", named=True)
    )
    doctors = Doctor.objects.in_bulk({row.doctor_id for row in removed})
    departments = Department.objects.in_bulk({row.department_id for row in removed})
    sentences = {}
    for row in removed:
        if row.doctor_id in doctors and row.department_id in departments:
            sentences.setdefault(
                row.id,
                f"{doctors[row.doctor_id]} was already removed from "
                f"{departments[row.department_id]}.",
            )
    return list(sentences.values())


def _tell(model_admin, request, outcome: Outcome) -> None:
    if outcome.refused:
        model_admin.message_user(
            request,
            f"Nothing was changed: {'; '.join(outcome.refused)}. The list now "
            "shows what is stored; choose again.",
            messages.ERROR,
        )
    shown = outcome.already[:NAMED_AT_MOST]
    for sentence in shown:
        model_admin.message_user(request, sentence, messages.WARNING)
    if len(outcome.already) > len(shown):
        model_admin.message_user(
            request,
            f"{len(outcome.already) - len(shown)} more rows were already as asked.",
            messages.WARNING,
        )


def _departments_named(rows) -> str:
    """'Cardiology', or '3 departments' when the rows are in several."""
    departments = list(
        Department.objects.filter(
            pk__in=rows.order_by().values("department_id")
        ).order_by("name")[:2]
    )
    if len(departments) == 1:
        return str(departments[0])
    count = rows.order_by().values("department_id").distinct().count()
    return f"{count:,} departments"


def confirm_removal(model_admin, request, queryset, *, back_label: str):
    """The page asked before removing doctors from a department: who goes
    (bounded), and the reason box. Rows already gone are not asked about: the
    removal says they were already removed."""
    rows = queryset.select_related("doctor", "department").order_by(
        "doctor__last_name", "doctor__first_name", "doctor_id", "department_id"
    )
    listed = list(rows[:LISTED])
    if not listed:
        remove(model_admin, request, queryset)
        return None
    total = len(listed) if len(listed) < LISTED else rows.count()
    where = _departments_named(queryset)
    several = where[0].isdigit()
    doctors = "1 doctor" if total == 1 else f"{total:,} doctors"
    return confirmation_page(
        model_admin,
        request,
        title=f"Remove doctors from {where}",
        question=f"Remove {doctors} from {where}?",
        consequence="They stop being members of the department; the change "
        "history keeps their membership, who removed it and why.",
        names=(
            f"{row.doctor} — {row.doctor.license_number}"
            + (f", from {row.department}" if several else "")
            for row in listed
        ),
        total=total,
        listed_heading="Doctors to remove",
        confirm_label="Yes, remove them" if total > 1 else "Yes, remove this doctor",
        back_url=request.get_full_path(),
        back_label=back_label,
    )


def remove(model_admin, request, queryset) -> None:
    outcome = Outcome()
    with transaction.atomic():
        rows = _locked(Q(pk__in=queryset.values("pk")))
        outcome.already = _already_removed(request, rows)
        outcome.refused = _changed_since(request, rows)
        if not outcome.refused and rows:
            departments = sorted({str(row.department) for row in rows})
            where = (
                departments[0]
                if len(departments) == 1
                else f"{len(departments):,} departments"
            )
            doctors = "1 doctor" if len(rows) == 1 else f"{len(rows):,} doctors"
            describe(f"Removed {doctors} from {where}")
            for membership in rows:
                membership.delete()
    _tell(model_admin, request, outcome)


def make_head(model_admin, request, queryset) -> None:
    chosen = list(queryset.values_list("pk", "department_id")[:2])
    if len(chosen) != 1:
        removed = _already_removed(request, []) if not chosen else []
        if removed:
            _tell(model_admin, request, Outcome(already=removed))
            return
        model_admin.message_user(
            request, "Select exactly one member to make head.", messages.ERROR
        )
        return
    ((pk, department_id),) = chosen
    outcome = Outcome()
    with transaction.atomic():
        # Head changes of one department happen one at a time: the second
        # then sees the first's head among the rows it locks.
        list(
            Department.objects.select_for_update(no_key=True)
            .filter(pk=department_id)
            .values_list("pk", flat=True)
        )
        rows = _locked(
            Q(pk=pk) | Q(department_id=department_id, role=Membership.Role.HEAD)
        )
        membership = next((row for row in rows if row.pk == pk), None)
        if membership is None:
            outcome.already = _already_removed(request, rows)
        elif membership.role == Membership.Role.HEAD:
            outcome.already = [
                f"{membership.doctor} is already head of {membership.department}."
            ]
        else:
            outcome.refused = _changed_since(request, rows)
            if not outcome.refused:
                describe(f"Made {membership.doctor} head of {membership.department}")
                for head in rows:
                    if head.pk != pk:
                        head.role = Membership.Role.MEMBER
                        head.save()
                membership.role = Membership.Role.HEAD
                membership.save()
    _tell(model_admin, request, outcome)


def set_primary(model_admin, request, queryset) -> None:
    """Each chosen row becomes its doctor's primary department; a primary
    department the doctor has elsewhere is unset in the same transaction (the
    message names both: "Dr X's primary department is now Cardiology (was
    Neurology).")."""
    outcome = Outcome()
    with transaction.atomic():
        # One primary department per doctor: the chosen doctors' changes
        # happen one at a time (their rows are locked first), each seeing the
        # other's primary flag.
        chosen_pks = set(queryset.values_list("pk", flat=True))
        doctor_ids = sorted(
            set(
                Membership.objects.filter(pk__in=chosen_pks).values_list(
                    "doctor_id", flat=True
                )
            )
        )
        concurrency.lock_doctors(doctor_ids)
        rows = _locked(
            Q(pk__in=chosen_pks) | Q(doctor_id__in=doctor_ids, is_primary=True)
        )
        chosen = [row for row in rows if row.pk in chosen_pks]
        outcome.already = [
            f"{row.department} is already the primary department of {row.doctor}."
            for row in chosen
            if row.is_primary
        ] + _already_removed(request, chosen)
        to_set = [row for row in chosen if not row.is_primary]
        outcome.refused = _changed_since(request, to_set)
        doctors = {row.doctor_id for row in to_set}
        if len(doctors) != len(to_set) and not outcome.refused:
            twice = sorted(
                {
                    row.doctor
                    for row in to_set
                    if sum(other.doctor_id == row.doctor_id for other in to_set) > 1
                },
                key=lambda doctor: (doctor.last_name, doctor.first_name),
            )
            outcome.refused = [
                RULE_WORDS[PRIMARY_RULE].twice.format(owner=doctor).rstrip(".")
                for doctor in twice
            ]
        if not outcome.refused and to_set:
            describe(
                f"Set the primary department of {to_set[0].doctor}"
                if len(to_set) == 1
                else f"Set the primary department of {len(to_set):,} doctors"
            )
        if not outcome.refused:
            # The old primary is unset first: the database allows one at a
            # time at every step.
            for held in rows:
                if held.is_primary and held.pk not in chosen_pks:
                    if held.doctor_id in doctors:
                        held.is_primary = False
                        held.save()
            for membership in to_set:
                membership.is_primary = True
                membership.save()
    _tell(model_admin, request, outcome)


def unset_primary(model_admin, request, queryset) -> None:
    outcome = Outcome()
    with transaction.atomic():
        rows = _locked(Q(pk__in=queryset.values("pk")))
        outcome.already = [
            f"{row.department} is already not the primary department of {row.doctor}."
            for row in rows
            if not row.is_primary
        ] + _already_removed(request, rows)
        to_unset = [row for row in rows if row.is_primary]
        outcome.refused = _changed_since(request, to_unset)
        if not outcome.refused and to_unset:
            describe(
                f"Unset the primary department of {to_unset[0].doctor}"
                if len(to_unset) == 1
                else f"Unset the primary department of {len(to_unset):,} doctors"
            )
        if not outcome.refused:
            for membership in to_unset:
                membership.is_primary = False
                membership.save()
    _tell(model_admin, request, outcome)


def too_many(model_admin, request, queryset) -> bool:
    """Refuses an action on more than ACTION_LIMIT rows, saying why."""
    count = queryset[: ACTION_LIMIT + 1].count()
    if count > ACTION_LIMIT:
        model_admin.message_user(
            request,
            f"Nothing was changed: select at most {ACTION_LIMIT} members at a "
            "time (narrow the list with the search or the filters).",
            messages.ERROR,
        )
        return True
    return False
