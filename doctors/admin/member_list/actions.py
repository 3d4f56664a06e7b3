"""The member list's actions on periods: remove (end the period on a chosen
last day, yesterday by default; a period that has not started by then is
cancelled), and make head, set or unset primary from a chosen day (today by
default), which ends the period the day before and starts the next one
(doctors.period_changes), handing the role or flag over from whoever holds
it on that day.

Each action locks the doctors it changes (and for a head, the department),
then re-reads their periods in the transaction: what it saves, and what the
feed says, are the stored values. A change a rule refuses (a head already
chosen from a later day, say) changes nothing and the message names the
other period. The page sends the version of each row as it showed it (editing.
ROW_VERSION, beside the ticked box): a row someone changed since is refused and
the message names the doctor. A row already as asked is left alone and the
message says so, so a repeated or concurrent submission changes data once.
"""

import datetime
from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.formats import date_format

from ... import concurrency, period_changes, periods
from ...models import (
    PRIMARY_RULE,
    RULE_WORDS,
    Department,
    Doctor,
    Membership,
)
from ...validators import validate_date_in_range
from ..changesets import ReasonActionForm, describe
from ..confirm_destroy import LISTED, confirmation_page
from ..membership_messages import forget_membership_changes
from ..naming import NAMED_AT_MOST
from .editing import posted_version

# Rows one action may change: each is its own save, feed event and history row,
# and the request must end well within the server's timeout.
ACTION_LIMIT = 500


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class MemberActionForm(ReasonActionForm):
    """The list's action bar: the action, the day a change of role or
    primary department takes effect, and the reason."""

    # Text here: Django's action bar refuses a form that does not validate
    # as "No action selected."; effective_day() reads the day and says what
    # is wrong with it.
    effective_on = forms.CharField(
        label="From",
        required=False,
        widget=_date_input(),
        help_text="The first day of a new head or primary department; "
        "empty means today.",
    )


class LastDayForm(forms.Form):
    """Asked on the removal's confirmation: the members' last day."""

    last_day = forms.DateField(
        label="Last day as a member",
        initial=periods.yesterday,
        widget=_date_input(),
        validators=[validate_date_in_range],
        help_text="Yesterday by default: they are no longer members today. A "
        "period that has not started by then is cancelled.",
    )


_EFFECTIVE_DAY = forms.DateField(required=False, validators=[validate_date_in_range])


def effective_day(model_admin, request) -> datetime.date | None:
    """The action bar's "From" day (today when empty); None, with an error
    message, when it is not a date. The bar the action was run from counts
    (Django's "index"), as for the action itself."""
    posted = request.POST.getlist("effective_on")
    index = request.POST.get("index", "0")
    index = int(index) if index.isdigit() else 0
    value = posted[index] if index < len(posted) else ""
    try:
        day = _EFFECTIVE_DAY.clean(value)
    except ValidationError as error:
        model_admin.message_user(
            request,
            f"Nothing was changed: “From”: {' '.join(error.messages)}",
            messages.ERROR,
        )
        return None
    return day or periods.today()


def _day(day: datetime.date) -> str:
    return date_format(day)


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
    (bounded), their last day (yesterday by default) and the reason box. Once
    confirmed with a valid day, the removal happens; rows already gone are not
    asked about: the removal says they were already removed."""
    rows = queryset.select_related("doctor", "department").order_by(
        "doctor__last_name", "doctor__first_name", "doctor_id", "department_id"
    )
    confirmed = request.POST.get("post") == "yes"
    form = LastDayForm(request.POST if confirmed else None)
    if confirmed and form.is_valid():
        remove(model_admin, request, queryset, last_day=form.cleaned_data["last_day"])
        return None
    listed = list(rows[:LISTED])
    if not listed:
        remove(model_admin, request, queryset, last_day=periods.yesterday())
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
        consequence="Their membership ends on the last day you choose; the "
        "change history keeps it, who ended it and why.",
        names=(
            f"{row.doctor} — {row.doctor.license_number}, {row.period_text}"
            + (f", in {row.department}" if several else "")
            for row in listed
        ),
        total=total,
        listed_heading="Doctors to remove",
        confirm_label="Yes, remove them" if total > 1 else "Yes, remove this doctor",
        back_url=request.get_full_path(),
        back_label=back_label,
        form=form,
    )


def remove(model_admin, request, queryset, *, last_day: datetime.date) -> None:
    """End the chosen periods on `last_day`; cancel those that start later.
    A period already ended by then is left alone and the message says so."""
    outcome = Outcome()
    with transaction.atomic():
        rows = _locked(
            Q(pk__in=queryset.values("pk")) | Q(pk__in=_selected_pks(request))
        )
        outcome.already = [
            f"{row.doctor} already left {row.department} on {_day(row.left_on)}."
            for row in rows
            if row.left_on is not None and row.left_on <= last_day
        ] + _already_removed(request, rows)
        to_end = [row for row in rows if row.left_on is None or row.left_on > last_day]
        outcome.refused = _changed_since(request, to_end)
        if not outcome.refused and to_end:
            departments = sorted({str(row.department) for row in to_end})
            where = (
                departments[0]
                if len(departments) == 1
                else f"{len(departments):,} departments"
            )
            doctors = "1 doctor" if len(to_end) == 1 else f"{len(to_end):,} doctors"
            describe(f"Removed {doctors} from {where} (last day {_day(last_day)})")
            for membership in to_end:
                membership.end(last_day)
    _tell(model_admin, request, outcome)


def _period_on(day: datetime.date, doctor_id: int, department_id: int):
    """The doctor's period in the department that covers `day`, if any."""
    return (
        Membership.objects.covering(day)
        .filter(doctor_id=doctor_id, department_id=department_id)
        .select_related("doctor", "department")
        .first()
    )


def _not_a_member(row: Membership, day: datetime.date) -> str:
    return f"{row.doctor} is not a member of {row.department} on {_day(day)}"


def _apply(outcome: Outcome, change) -> None:
    """Run `change` in a savepoint: a rule it breaks refuses the whole action,
    naming the other period, and undoes what it already did."""
    try:
        with transaction.atomic():
            change()
    except ValidationError as error:
        forget_membership_changes()
        outcome.refused.extend(message.rstrip(".") for message in error.messages)


def make_head(model_admin, request, queryset, *, day: datetime.date) -> None:
    """The chosen member heads the department from `day`; whoever heads it
    on that day is a member from then."""
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
        # then sees the first's head among the rows it reads.
        list(
            Department.objects.select_for_update(no_key=True)
            .filter(pk=department_id)
            .values_list("pk", flat=True)
        )
        # The chosen row and the department's head on that day: a head the
        # person's page showed and someone changed since is refused, never
        # demoted unseen.
        rows = _locked(
            Q(pk=pk)
            | (
                Q(department_id=department_id, role=Membership.Role.HEAD)
                & periods.covering(day)
            )
        )
        selected = next((row for row in rows if row.pk == pk), None)
        period = selected and _period_on(day, selected.doctor_id, department_id)
        if selected is None:
            outcome.already = _already_removed(request, [])
        elif period is None:
            outcome.refused = [_not_a_member(selected, day)]
        elif period.role == Membership.Role.HEAD:
            outcome.already = [
                f"{period.doctor} is already head of {period.department} on "
                f"{_day(day)}."
            ]
        else:
            outcome.refused = _changed_since(request, rows)
            if not outcome.refused:
                describe(
                    f"Made {period.doctor} head of {period.department} from {_day(day)}"
                )
                _apply(outcome, lambda: period_changes.make_head(period, day))
    _tell(model_admin, request, outcome)


def _chosen_periods(request, queryset, day: datetime.date):
    """The chosen rows, locked with their doctors, and for each the doctor's
    period in that department covering `day` (or None). Two rows of one
    doctor in one department (a period and the next) name the same period on
    that day: it is listed once, so it changes once and is told once."""
    chosen_pks = set(queryset.values_list("pk", flat=True))
    rows = _locked(Q(pk__in=chosen_pks))
    found = []
    periods_found = set()
    for row in rows:
        period = _period_on(day, row.doctor_id, row.department_id)
        if period is not None:
            if period.pk in periods_found:
                continue
            periods_found.add(period.pk)
        found.append((row, period))
    return rows, found


def set_primary(model_admin, request, queryset, *, day: datetime.date) -> None:
    """Each chosen row's department is its doctor's primary one from `day`; a
    primary department the doctor has elsewhere on that day stops being
    primary then (the message names both: "Dr X's primary department is
    Cardiology from 4 Dec 2026 (was Neurology).")."""
    outcome = Outcome()
    with transaction.atomic():
        rows, found = _chosen_periods(request, queryset, day)
        outcome.already = [
            f"{period.department} is already the primary department of "
            f"{period.doctor} on {_day(day)}."
            for _, period in found
            if period is not None and period.is_primary
        ] + _already_removed(request, rows)
        to_set = [
            (row, period)
            for row, period in found
            if period is None or not period.is_primary
        ]
        outcome.refused = _changed_since(request, [row for row, _ in to_set])
        outcome.refused += [_not_a_member(row, day) for row, p in to_set if p is None]
        doctors = {row.doctor_id for row, _ in to_set}
        if len(doctors) != len(to_set) and not outcome.refused:
            twice = sorted(
                {
                    row.doctor
                    for row, _ in to_set
                    if sum(other.doctor_id == row.doctor_id for other, _ in to_set) > 1
                },
                key=lambda doctor: (doctor.last_name, doctor.first_name),
            )
            outcome.refused = [
                RULE_WORDS[PRIMARY_RULE].twice.format(owner=doctor).rstrip(".")
                for doctor in twice
            ]
        if not outcome.refused and to_set:
            first = to_set[0][0].doctor
            describe(
                f"Set the primary department of {first} from {_day(day)}"
                if len(to_set) == 1
                else f"Set the primary department of {len(to_set):,} doctors "
                f"from {_day(day)}"
            )

            def change():
                for _, period in to_set:
                    period_changes.make_primary(period, day)

            _apply(outcome, change)
    _tell(model_admin, request, outcome)


def unset_primary(model_admin, request, queryset, *, day: datetime.date) -> None:
    outcome = Outcome()
    with transaction.atomic():
        rows, found = _chosen_periods(request, queryset, day)
        outcome.already = [
            f"{period.department} is already not the primary department of "
            f"{period.doctor} on {_day(day)}."
            for _, period in found
            if period is not None and not period.is_primary
        ] + _already_removed(request, rows)
        to_unset = [(row, p) for row, p in found if p is not None and p.is_primary]
        outcome.refused = _changed_since(request, [row for row, _ in to_unset])
        outcome.refused += [_not_a_member(row, day) for row, p in found if p is None]
        if not outcome.refused and to_unset:
            first = to_unset[0][0].doctor
            describe(
                f"Unset the primary department of {first} from {_day(day)}"
                if len(to_unset) == 1
                else f"Unset the primary department of {len(to_unset):,} doctors "
                f"from {_day(day)}"
            )

            def change():
                for _, period in to_unset:
                    period_changes.change_on(period, day, is_primary=False)

            _apply(outcome, change)
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
