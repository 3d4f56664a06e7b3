"""Membership rows on the doctor and department pages: validation as a whole,
safe save order, the History page rows and the message after a save."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import (
    Q,
)
from django.forms.models import BaseInlineFormSet
from django.utils.text import capfirst

from .. import activity, context, membership_report
from ..models import ActivityEvent, Doctor, Membership, membership_save_order
from .changesets import chosen_change_set


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["doctor", "department", "role", "joined_on", "is_primary"]

    def validate_constraints(self):
        # "One head per department" and "one primary per doctor" depend on the
        # other rows of the same formset (a head can be handed over in one save),
        # so MembershipFormSet checks them against the state after the save.
        exclude = self._get_validation_exclusions() | {"role", "is_primary"}
        try:
            self.instance.validate_constraints(exclude=exclude)
        except ValidationError as error:
            self._update_errors(error)


class MembershipFormSet(BaseInlineFormSet):
    """Membership rows of one doctor or one department, validated as a whole."""

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
            and form.cleaned_data.get(
                "department" if self.fk.name == "doctor" else "doctor"
            )
        ]
        if self.fk.name == "doctor":
            self._check_within(
                kept, "is_primary", True, "Only one department can be primary."
            )
            self._check_against_database(
                kept,
                flag_field="role",
                flag_value=Membership.Role.HEAD,
                other_side="department",
                message="{other} already has a head: {holder}.",
            )
        else:
            self._check_within(
                kept,
                "role",
                Membership.Role.HEAD,
                "A department can have only one head.",
            )
            self._check_against_database(
                kept,
                flag_field="is_primary",
                flag_value=True,
                other_side="doctor",
                message="{other} already has a primary department: {holder}.",
            )

    def _check_within(self, kept, field, value, message):
        flagged = [form for form in kept if form.cleaned_data.get(field) == value]
        if len(flagged) > 1:
            for form in flagged:
                form.add_error(field, message)

    def _check_against_database(
        self, kept, *, flag_field, flag_value, other_side, message
    ):
        flagged = {
            form.cleaned_data[other_side].pk: form
            for form in kept
            if form.cleaned_data.get(flag_field) == flag_value
        }
        if not flagged:
            return
        holders = Membership.objects.filter(
            **{f"{other_side}__in": list(flagged), flag_field: flag_value}
        ).select_related("doctor", "department")
        if self.instance.pk is not None:
            # This object's own rows are all in the formset and already counted.
            holders = holders.exclude(**{self.fk.name: self.instance})
        for holder in holders:
            other = getattr(holder, other_side)
            holder_side = holder.department if other_side == "doctor" else holder.doctor
            flagged[other.pk].add_error(
                flag_field, message.format(other=other, holder=holder_side)
            )

    def save_existing_objects(self, commit=True):
        # Saving rows in page order could pass through a state the database
        # refuses (two heads while a head is handed over, two primary rows while
        # the primary flag moves), so rows are saved in the order of
        # `_save_order`.
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
        data = form.cleaned_data
        return membership_save_order(
            was_head=form.initial.get("role") == Membership.Role.HEAD,
            was_primary=bool(form.initial.get("is_primary")),
            is_head=data.get("role") == Membership.Role.HEAD,
            is_primary=bool(data.get("is_primary")),
        )


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
    extra = 0
    fields = ["department", "role", "joined_on", "is_primary"]
    autocomplete_fields = ["department"]
    verbose_name = "department membership"
    verbose_name_plural = "department memberships"

    def get_queryset(self, request):
        # The rows show the department's name; fetch it with the membership.
        return super().get_queryset(request).select_related("department")


class MembershipHistoryMixin:
    """The History page also lists the object's membership changes, from the
    feed, a page at a time (an object may have a hundred thousand)."""

    object_history_template = "admin/doctors/object_history.html"
    membership_history_per_page = 100
    membership_page_var = "events_page"

    def history_view(self, request, object_id, extra_context=None):
        if self.model is Doctor:
            about = Q(target_type="doctor", target_id=object_id)
        else:
            about = Q(department_id=object_id)
        events = ActivityEvent.objects.filter(about, verb__startswith="membership_")
        change_set_id = chosen_change_set(request)
        if change_set_id is not None:
            events = events.filter(change_set_id=change_set_id)
        events = events.order_by("-occurred_at", "-id")
        paginator = Paginator(events, self.membership_history_per_page)
        page = paginator.get_page(request.GET.get(self.membership_page_var))
        for event in page.object_list:
            event.details = activity.describe_membership_change(event)
        return super().history_view(
            request,
            object_id,
            extra_context={
                **(extra_context or {}),
                "membership_events": page.object_list,
                "change_set_id": change_set_id,
                "membership_page": page,
                "membership_page_range": paginator.get_elided_page_range(page.number),
                "membership_page_var": self.membership_page_var,
            },
        )


def report_membership_changes(request, model_admin, *, per: str) -> None:
    """One success message per doctor or department (`per`) for the membership
    changes this request made (the signal receivers collected them)."""
    collected = context.current().membership_changes
    for sentence in membership_report.sentences(collected, per=per):
        model_admin.message_user(request, sentence, messages.SUCCESS)
    collected.clear()


def forget_membership_changes() -> None:
    """Changes collected by a save that was rolled back were never made."""
    context.current().membership_changes.clear()


class MembershipMessagesMixin:
    """After a save, one message per changed object saying what happened to its
    memberships, from what the signal receivers collected in this request."""

    membership_message_per: str

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        report_membership_changes(request, self, per=self.membership_message_per)
