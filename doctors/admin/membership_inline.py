"""The doctor's periods on the doctor page (an inline): the current and later
ones, editable; earlier ones are listed read-only beside them (and in full on
the History page's timeline).

What each edit means, on the clinic's calendar:
- a new row starts a period on its first day (today by default);
- editing a period's first or last day corrects it (recorded as a correction;
  filling in the last day of an open period ends it);
- changing the role or the primary flag happens from a day ("Role or primary
  from", today by default): the period ends the day before and a new one
  starts (doctors.period_changes), and whoever heads the department, or the
  doctor's other primary department, on that day hands it over;
- "Remove" ends the period yesterday (the doctor is no longer a member
  today), or cancels a period that has not started yet.

A rule the change would break (another head from a later day, an overlapping
period) is a form error naming the other period; the database refuses a race
past the check, which the page turns into a message.
"""

import datetime

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils.formats import date_format
from django.utils.text import capfirst

from .. import period_changes, periods
from ..models import (
    HEAD_RULE,
    OVERLAP_RULE,
    PRIMARY_RULE,
    RULE_WORDS,
    Membership,
    membership_save_order,
)
from ..periods import PeriodEvent
from ..validators import validate_date_in_range

HOLDING = ("role", "is_primary")


class MembershipForm(forms.ModelForm):
    changes_from = forms.DateField(
        label="Role or primary from",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        validators=[validate_date_in_range],
        help_text="The day a new role or primary flag starts; empty means today.",
    )

    class Meta:
        model = Membership
        fields = ["doctor", "department", "role", "is_primary", "joined_on", "left_on"]
        widgets = {
            "joined_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "left_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }

    # The role and flag asked for, checked by the formset against the other
    # rows and the stored periods (a head or a primary department may be
    # handed over in the same save): on an existing period they start on a
    # day (MembershipFormSet.save_existing), on a new one with it. None when
    # there is nothing to check.
    new_holding: dict | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The first day's default is "today" (a callable), for which Django
        # sends the value shown in a second, hidden input; the row's own
        # value (form.initial) tells a correction as well.
        self.fields["joined_on"].show_hidden_initial = False

    def holding_changed(self) -> bool:
        if self.instance.pk is None:
            data = getattr(self, "cleaned_data", {})
            return data.get("role") == Membership.Role.HEAD or bool(
                data.get("is_primary")
            )
        return bool(set(HOLDING) & set(self.changed_data))

    def changes_on(self) -> datetime.date:
        return self.cleaned_data.get("changes_from") or periods.today()

    def _post_clean(self):
        # A new role or flag on a stored period holds from a day on, not over
        # the whole period: the period as corrected is validated with the
        # role and flag it has, and the change from the day by the formset.
        if not hasattr(self, "cleaned_data"):
            return
        if self.instance.pk is not None and (
            self.cleaned_data.get("DELETE") or not self.has_changed()
        ):
            # A period left as it is, or removed (which only ends it): no
            # rule to check, and no query per row of a long list.
            self.new_holding = None
            return
        if not self.holding_changed():
            self.new_holding = None
            super()._post_clean()
            return
        self.new_holding = {name: self.cleaned_data.get(name) for name in HOLDING}
        for name in HOLDING:
            self.cleaned_data[name] = self.initial.get(
                name, Membership._meta.get_field(name).get_default()
            )
        super()._post_clean()
        self.cleaned_data.update(self.new_holding)


def _other_period(rule: str, other: Membership) -> str:
    """A rule broken, naming the other period (as Membership.clean does)."""
    if rule == OVERLAP_RULE:
        return f"{other.doctor} is already in {other.department} {other.period_text}."
    if rule == HEAD_RULE:
        return (
            f"{other.department} already has a head {other.period_text}: "
            f"{other.doctor}."
        )
    return (
        f"{other.doctor}'s primary department is already {other.department} "
        f"{other.period_text}."
    )


class MembershipFormSet(BaseInlineFormSet):
    """A doctor's periods, validated as a whole and saved as dated changes."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        # A tabular inline shows the labels only as column headings, which do
        # not name the inputs of each row for assistive technology.
        for field in form.fields.values():
            if not field.widget.is_hidden:
                field.widget.attrs.setdefault("aria-label", capfirst(field.label))

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [
            form
            for form in self.forms
            if form.cleaned_data
            and not self._should_delete_form(form)
            and form.cleaned_data.get("department")
        ]
        flagged = [form for form in kept if form.cleaned_data.get("is_primary")]
        if len(flagged) > 1 and not self._primary_on_different_days(flagged):
            for form in flagged:
                form.add_error(
                    "is_primary",
                    RULE_WORDS[PRIMARY_RULE].twice.format(owner="This doctor"),
                )
        self._check_overlaps_within(kept)
        for form in kept:
            if form.new_holding and form.instance.pk is None:
                self._check_new(form)
            elif form.new_holding:
                self._check_change_on(form)

    @staticmethod
    def _check_overlaps_within(kept) -> None:
        """Two rows of one department sharing a day."""
        by_department: dict[int, list] = {}
        for form in kept:
            by_department.setdefault(form.cleaned_data["department"].pk, []).append(
                form
            )
        for forms_here in by_department.values():
            spans = sorted(
                forms_here,
                key=lambda form: (
                    form.cleaned_data.get("joined_on") or datetime.date.min
                ),
            )
            for earlier, later in zip(spans, spans[1:], strict=False):
                last = earlier.cleaned_data.get("left_on")
                if last is None or last >= later.cleaned_data["joined_on"]:
                    later.add_error("department", RULE_WORDS[OVERLAP_RULE].on_form)

    def _check_new(self, form) -> None:
        """A new period that heads a department or is primary, checked
        against the stored periods (a primary flag this save takes off
        another period is not a conflict)."""
        data = form.cleaned_data
        period = Membership(
            doctor_id=form.instance.doctor_id,
            department=data["department"],
            joined_on=data["joined_on"],
            left_on=data.get("left_on"),
            role=form.new_holding["role"],
            is_primary=bool(form.new_holding["is_primary"]),
        )
        for rule, other in period.conflicts():
            if rule == PRIMARY_RULE and self._released_here(other, period.joined_on):
                continue
            if rule != OVERLAP_RULE:  # checked by the model's own validation
                form.add_error(None, _other_period(rule, other))

    @staticmethod
    def _primary_on_different_days(flagged) -> bool:
        """Two rows flagged primary whose periods share no day."""
        spans = sorted(
            (form.cleaned_data["joined_on"], form.cleaned_data.get("left_on"))
            for form in flagged
        )
        return all(
            last is not None and last < following[0]
            for (_, last), following in zip(spans, spans[1:], strict=False)
        )

    def _check_change_on(self, form) -> None:
        """The period that would start on the form's day, checked against
        the stored periods; the head or primary department that period
        takes over on that day is handed over, not a conflict."""
        data = form.cleaned_data
        day = form.changes_on()
        last = data.get("left_on")
        if last is not None and day > last:
            form.add_error(
                "changes_from",
                f"This period ends on {date_format(last)}, before the day the "
                "change would start.",
            )
            return
        following = Membership(
            pk=form.instance.pk,
            doctor=form.instance.doctor,
            department=data["department"],
            joined_on=max(day, data["joined_on"]),
            left_on=last,
            role=form.new_holding["role"],
            is_primary=bool(form.new_holding["is_primary"]),
        )
        form.handovers = []
        for rule, other in following.conflicts():
            if rule == PRIMARY_RULE and self._released_here(other, following.joined_on):
                continue
            if rule in (HEAD_RULE, PRIMARY_RULE) and other.covers(following.joined_on):
                # Whoever holds it on that day hands it over then.
                form.handovers.append((rule, other))
                continue
            form.add_error(None, _other_period(rule, other))

    def _released_here(self, period: Membership, from_day: datetime.date) -> bool:
        """Whether this save takes the primary flag off `period` before
        `from_day`: it is unset, or the period is removed (it ends yesterday,
        or is cancelled if it had not started)."""
        for form in self.forms:
            if form.instance.pk != period.pk or not form.cleaned_data:
                continue
            if self._should_delete_form(form):
                today = periods.today()
                return period.joined_on >= today or from_day >= today
            return bool(form.new_holding) and not form.new_holding["is_primary"]
        return False

    # Saving -----------------------------------------------------------------

    def save_existing_objects(self, commit=True):
        # Rows are saved in the order of `_save_order`: saving them in page
        # order could pass through a state the database refuses (two primary
        # departments while the flag moves).
        self._release_first = True
        try:
            return super().save_existing_objects(commit)
        finally:
            self._release_first = False

    @property
    def initial_forms(self):
        forms = super().initial_forms
        if getattr(self, "_release_first", False):
            return sorted(forms, key=self._save_order)
        return forms

    def _save_order(self, form) -> tuple[bool, bool]:
        if self._should_delete_form(form):
            return (False, False)  # gives up whatever it holds, takes nothing
        return form_save_order(form)

    def save_new(self, form, commit=True):
        membership = super().save_new(form, commit=False)
        for name, value in (form.new_holding or {}).items():
            setattr(membership, name, value)
        membership.period_event = PeriodEvent.STARTED
        if commit:
            membership.save()
        return membership

    def save_existing(self, form, obj, commit=True):
        """Corrected dates first (a correction, or the end of an open
        period), then the role or flag from the form's day."""
        membership = super().save_existing(form, obj, commit=False)
        if set(form.changed_data) - {"changes_from", *HOLDING}:
            membership.save()  # the receivers word it: ended or corrected
        if form.new_holding:
            day = form.changes_on()
            # The holders found by clean() hand over first (a race past the
            # check is refused by the database).
            for rule, holder in getattr(form, "handovers", []):
                if rule == HEAD_RULE:
                    period_changes.change_on(holder, day, role=Membership.Role.MEMBER)
                else:
                    period_changes.change_on(holder, day, is_primary=False)
            membership = period_changes.change_on(
                membership,
                day,
                role=form.new_holding["role"],
                is_primary=bool(form.new_holding["is_primary"]),
            )
        return membership

    def delete_existing(self, obj, commit=True):
        # Removing ends the period yesterday, or cancels one not started.
        if commit:
            obj.end()


def form_save_order(form: forms.ModelForm) -> tuple[bool, bool]:
    """models.membership_save_order for a validated membership row form."""
    data = form.cleaned_data
    return membership_save_order(
        was_head=form.initial.get("role") == Membership.Role.HEAD,
        was_primary=bool(form.initial.get("is_primary")),
        is_head=data.get("role") == Membership.Role.HEAD,
        is_primary=bool(data.get("is_primary")),
    )


class MembershipInline(admin.TabularInline):
    """The doctor's current and later periods (the default manager's
    `not_ended`); earlier ones are on the page read-only (DoctorAdmin)."""

    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
    extra = 0
    fields = [
        "department",
        "role",
        "is_primary",
        "joined_on",
        "left_on",
        "changes_from",
    ]
    autocomplete_fields = ["department"]
    verbose_name = "department membership"
    verbose_name_plural = "department memberships (current and later)"

    def get_queryset(self, request):
        # The rows show the department's name; fetch it with the membership.
        return (
            super()
            .get_queryset(request)
            .select_related("department")
            .order_by("joined_on", "pk")
        )
