"""The membership rows on the doctor page (an inline): validated as a whole,
saved in an order the constraints allow."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.text import capfirst

from ..models import (
    HEAD_RULE,
    PRIMARY_RULE,
    RULE_WORDS,
    Membership,
    membership_save_order,
)


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["doctor", "department", "role", "joined_on", "is_primary"]

    def validate_constraints(self):
        # "One head per department" and "one primary per doctor" depend on the
        # other rows of the same formset (a head can be handed over in one save),
        # so MembershipFormSet checks them against the state after the save.
        # Like Django's own hook, fields the form does not edit or already
        # refused are left out.
        exclude = {
            field.name
            for field in Membership._meta.concrete_fields
            if field.name not in self.fields or field.name in self.errors
        } | {"role", "is_primary"}
        try:
            self.instance.validate_constraints(exclude=exclude)
        except ValidationError as error:
            self.add_error(None, error)


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
                kept,
                "is_primary",
                True,
                RULE_WORDS[PRIMARY_RULE].twice.format(owner="This doctor"),
            )
            self._check_against_database(
                kept,
                flag_field="role",
                flag_value=Membership.Role.HEAD,
                other_side="department",
                message=RULE_WORDS[HEAD_RULE].held_by,
            )
        else:
            self._check_within(
                kept,
                "role",
                Membership.Role.HEAD,
                RULE_WORDS[HEAD_RULE].twice.format(owner="This department"),
            )
            self._check_against_database(
                kept,
                flag_field="is_primary",
                flag_value=True,
                other_side="doctor",
                message=RULE_WORDS[PRIMARY_RULE].held_by,
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
                flag_field, message.format(owner=other, holder=holder_side)
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
        return form_save_order(form)


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
