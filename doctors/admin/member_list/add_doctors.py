"""The member list's "Add doctors" form: several doctors into one department."""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.utils import timezone

from ...models import RULE_WORDS, Department, Doctor, Membership
from ...validators import validate_date_in_range

# Doctors one "Add doctors" submission may add: the form posts one field per doctor.
ADD_DOCTORS_LIMIT = 100


class AddDoctorsForm(forms.Form):
    department = forms.ModelChoiceField(
        queryset=Department.objects.all(), widget=forms.HiddenInput
    )
    doctors = forms.ModelMultipleChoiceField(
        queryset=Doctor.objects.all(),
        help_text=f"Type a name or a license number; pick up to {ADD_DOCTORS_LIMIT} "
        "doctors.",
    )
    joined_on = forms.DateField(
        label="Joined on",
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_date_in_range],
    )

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["doctors"]
        field.widget = AutocompleteSelectMultiple(
            Membership._meta.get_field("doctor"),
            admin_site,
            attrs={"aria-label": "Doctors to add", "data-width": "30em"},
            choices=field.choices,
        )

    def clean(self):
        cleaned_data = super().clean()
        department = cleaned_data.get("department")
        doctors = cleaned_data.get("doctors")
        if department is None or not doctors:
            return cleaned_data
        if len(doctors) > ADD_DOCTORS_LIMIT:
            self.add_error(
                "doctors",
                f"Add at most {ADD_DOCTORS_LIMIT} doctors at a time "
                f"({len(doctors)} chosen).",
            )
            return cleaned_data
        self.refuse_doctors_already_in()
        return cleaned_data

    def refuse_doctors_already_in(self) -> bool:
        """Add an error naming the chosen doctors already in the department;
        whether there were any. The view asks again once it holds the
        doctors' locks: a second submission of the same form then says so."""
        department = self.cleaned_data["department"]
        already = list(
            Doctor.objects.filter(
                pk__in=[d.pk for d in self.cleaned_data["doctors"]],
                memberships__department=department,
            ).order_by("last_name", "first_name", "pk")
        )
        if already:
            words = RULE_WORDS["membership_unique_doctor_department"]
            self.add_error(
                "doctors",
                words.held_by.format(
                    owner=", ".join(str(doctor) for doctor in already),
                    holder=department,
                ),
            )
        return bool(already)
