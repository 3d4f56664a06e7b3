"""The member list's scope: one department's members, or one doctor's
memberships (linked from their pages)."""

from django.contrib import admin

from ...models import Doctor
from ..filters import DepartmentFilter


class DepartmentScopeFilter(DepartmentFilter):
    parameter_name = "department"

    def in_department(self, queryset, department_id: int):
        return queryset.filter(department_id=department_id)


class DoctorScopeFilter(admin.SimpleListFilter):
    """The memberships of one doctor (linked from a doctor's page); shown only
    while it is applied."""

    title = "doctor"
    parameter_name = "doctor"

    def lookups(self, request, model_admin):
        try:
            pk = int(self.value()) if self.value() is not None else None
        except ValueError:
            return []
        if pk is None:
            return []
        return [(pk, str(d)) for d in Doctor.objects.filter(pk=pk)]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            return queryset.filter(doctor_id=int(self.value()))
        except ValueError:
            return queryset.none()
