"""The doctor and department forms, with optimistic locking."""

from django import forms
from django.core.exceptions import ValidationError

from .. import concurrency
from ..models import RULE_WORDS, Department, Doctor, Membership


def set_submitted_value(data, key: str, field: forms.Field, value) -> None:
    """Put `value` in bound form `data` under `key` as a browser would send it
    (an unticked checkbox sends nothing)."""
    if isinstance(field.widget, forms.CheckboxInput):
        if value:
            data[key] = "on"
        else:
            data.pop(key, None)
    else:
        data[key] = "" if value is None else str(value)


class VersionedAdminForm(forms.ModelForm):
    """Refuses to save over a change someone else made since the page was opened.

    Every field also carries the value it had when the page was opened (Django's
    show_hidden_initial), so after a conflict the fields this user did not touch
    are refreshed to what is stored now, and only their own edits remain: saving
    again cannot quietly undo the other person's change.
    """

    version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        for name, field in self.fields.items():
            if name != "version":
                field.show_hidden_initial = True
        if not self.is_bound:
            self.fields["version"].initial = concurrency.version_of(self.instance)

    def clean(self):
        cleaned_data = super().clean()
        if self.instance.pk is None:
            return cleaned_data
        # The row lock makes a concurrent save wait here until this one ends
        # (the admin runs the whole save in one transaction).
        current = concurrency.version_of(self.instance, lock=True)
        if cleaned_data.get("version") != current:
            # Formatted now: the message names the object as stored, before
            # this form's data is applied to it.
            name = str(self.instance)
            both_changed = self._refresh_untouched_fields(current)
            detail = (
                f" They also changed {', '.join(both_changed)}, which you changed "
                "too: your values are kept below."
                if both_changed
                else " Fields you did not edit now show their stored values."
            )
            raise ValidationError(
                "%(object)s was changed %(change)s since you opened it; review "
                "and save again.%(detail)s",
                code="stale",
                params={
                    "object": name,
                    "change": concurrency.last_change_description(self.instance),
                    "detail": detail,
                },
            )
        return cleaned_data

    def _refresh_untouched_fields(self, version: str) -> list[str]:
        """Show stored values in the fields this user left alone; return the
        labels of fields both people changed."""
        stored = type(self.instance)._base_manager.get(pk=self.instance.pk)
        edited = set(self.changed_data)
        data = self.data.copy()
        both_changed = []
        for name, field in self.fields.items():
            if name == "version" or field.disabled:
                continue
            key = self.add_prefix(name)
            value = field.prepare_value(getattr(stored, name))
            opened_with = field.to_python(
                field.hidden_widget().value_from_datadict(
                    self.data, self.files, self.add_initial_prefix(name)
                )
            )
            if name in edited:
                if field.has_changed(opened_with, getattr(stored, name)):
                    both_changed.append(str(field.label or name).lower())
                # What was stored when they looked is now the stored value.
            else:
                set_submitted_value(data, key, field, value)
            data[self.add_initial_prefix(name)] = "" if value is None else str(value)
        data[self.add_prefix("version")] = version
        self.data = data
        return both_changed


class DoctorAdminForm(VersionedAdminForm):
    class Meta:
        model = Doctor
        fields = [
            "license_number",
            "first_name",
            "last_name",
            "specialty",
            "email",
            "phone",
            "is_active",
        ]

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        duplicates = Doctor.objects.filter(email__iexact=email)
        if self.instance.pk is not None:
            duplicates = duplicates.exclude(pk=self.instance.pk)
        if duplicates.exists():
            words = RULE_WORDS["doctor_email_unique_ci"]
            raise ValidationError(
                f"{words.on_form.rstrip('.')} (emails are compared without regard "
                "to case)."
            )
        return email


class DepartmentAdminForm(VersionedAdminForm):
    class Meta:
        model = Department
        fields = ["code", "name", "description", "is_active"]


class MembershipAdminForm(VersionedAdminForm):
    """One membership on its own page; a second head or primary department is
    a form error (the model's constraints, validated)."""

    class Meta:
        model = Membership
        fields = ["doctor", "department", "role", "joined_on", "left_on", "is_primary"]
