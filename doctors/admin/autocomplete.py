"""The admin's autocomplete, with doctors told apart.

Two doctors may share a name, so a doctor is offered as "Dr Destiny Allen —
LIC-00123, Cardiology": the license number and the primary department, read in
the same query as the page of results (a subquery, not a query per doctor). A
department's "Add doctors" form asks for doctors not yet in that department
(NOT_IN_DEPARTMENT on the widget's URL).
"""

from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.db.models import Exists, OuterRef, QuerySet, Subquery

from ..models import Doctor, Membership

# The autocomplete's query parameter naming the department whose members are
# left out of the results.
NOT_IN_DEPARTMENT = "not_in_department"


def with_primary_department(queryset: QuerySet) -> QuerySet:
    """Doctors annotated with their primary department's name (or None)."""
    return queryset.annotate(
        primary_department_name=Subquery(
            Membership.objects.current()
            .filter(doctor=OuterRef("pk"), is_primary=True)
            .values("department__name")[:1]
        )
    )


def not_in_department(queryset: QuerySet, department_id: int) -> QuerySet:
    """Doctors who are not members of the department today or later: the
    same rule the "Add doctors" form refuses by for a first day of today (a
    doctor who left may join again)."""
    return queryset.filter(
        ~Exists(
            Membership.objects.not_ended().filter(
                doctor=OuterRef("pk"), department_id=department_id
            )
        )
    )


def doctor_label(doctor: Doctor) -> str:
    """ "Dr Destiny Allen — LIC-00123, Cardiology"; the doctor comes from
    with_primary_department."""
    primary = getattr(doctor, "primary_department_name", None)
    return f"{doctor} — {doctor.license_number}, {primary or 'no primary department'}"


class ClinicAutocompleteJsonView(AutocompleteJsonView):
    """Django's autocomplete; doctors are labelled by doctor_label and, when
    asked, leave out a department's members."""

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.model_admin.model is not Doctor:
            return queryset
        department = self.request.GET.get(NOT_IN_DEPARTMENT, "")
        if department.isdigit():
            queryset = not_in_department(queryset, int(department))
        return with_primary_department(queryset)

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        if isinstance(obj, Doctor):
            result["text"] = doctor_label(obj)
        return result


class DoctorsNotInDepartmentWidget(AutocompleteSelectMultiple):
    """The doctors' autocomplete of a department's "Add doctors" form: it
    offers only doctors not yet in the department, each labelled with
    doctor_label."""

    def __init__(self, *args, department_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.department_id = department_id

    def get_url(self):
        url = super().get_url()
        if self.department_id is None:
            return url
        return f"{url}?{NOT_IN_DEPARTMENT}={int(self.department_id)}"
