"""The member list's "Add doctors" form: several doctors into one department."""

from django import forms
from django.utils import timezone

from ... import periods
from ...models import Department, Doctor, Membership
from ...validators import validate_date_in_range
from ..autocomplete import (
    DoctorsNotInDepartmentWidget,
    doctor_label,
    with_primary_department,
)
from ..changesets import reason_field

# Doctors one "Add doctors" submission may add: the form posts one field per doctor.
ADD_DOCTORS_LIMIT = 100


class LabelledDoctorsField(forms.ModelMultipleChoiceField):
    """Chosen doctors shown again (after a refused submission) as the
    autocomplete offered them: name, license and primary department."""

    def label_from_instance(self, obj):
        return doctor_label(obj)


class AddDoctorsForm(forms.Form):
    department = forms.ModelChoiceField(
        queryset=Department.objects.all(), widget=forms.HiddenInput
    )
    doctors = LabelledDoctorsField(
        queryset=with_primary_department(Doctor.objects.all()),
        help_text=f"Type a name or a license number; pick up to {ADD_DOCTORS_LIMIT} "
        "doctors.",
    )
    joined_on = forms.DateField(
        label="First day",
        help_text="Their first day as members; today by default.",
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_date_in_range],
    )
    change_reason = reason_field()

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["doctors"]
        field.widget = DoctorsNotInDepartmentWidget(
            Membership._meta.get_field("doctor"),
            admin_site,
            attrs={"aria-label": "Doctors to add", "data-width": "30em"},
            choices=field.choices,
            department_id=self._department_id(),
        )

    def _department_id(self) -> int | None:
        """The department the autocomplete leaves members of out."""
        value = (
            self.data.get(self.add_prefix("department"))
            if self.is_bound
            else self.initial.get("department")
        )
        value = str(value or "")
        return int(value) if value.isdigit() else None

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
        """Add an error naming the chosen doctors who are members of the
        department on some day from the first day on, with that period;
        whether there were any. The view asks again once it holds the
        doctors' locks: a second submission of the same form then says so."""
        department = self.cleaned_data["department"]
        first_day = self.cleaned_data.get("joined_on")
        if first_day is None:
            return False
        already = (
            Membership.objects.filter(
                department=department,
                doctor_id__in=[d.pk for d in self.cleaned_data["doctors"]],
            )
            .filter(periods.overlapping(first_day, None))
            .select_related("doctor")
            .order_by("doctor__last_name", "doctor__first_name", "doctor_id")
        )
        named = {}
        for membership in already:
            named.setdefault(
                membership.doctor_id,
                f"{membership.doctor} is already in {department} "
                f"{membership.period_text}.",
            )
        for sentence in named.values():
            self.add_error("doctors", sentence)
        return bool(named)
