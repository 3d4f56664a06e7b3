from django.contrib import admin

from ..models import Department, Membership


class DepartmentFilter(admin.SimpleListFilter):
    """One department, chosen by name; `in_department` says what that means
    for the list's rows."""

    title = "department"

    def lookups(self, request, model_admin):
        return Department.objects.order_by("name").values_list("pk", "name")

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            department_id = int(self.value())
        except ValueError:
            return queryset.none()
        return self.in_department(queryset, department_id)

    def in_department(self, queryset, department_id: int):
        raise NotImplementedError


class DepartmentListFilter(DepartmentFilter):
    """Doctors in one department today: id IN (the doctors whose periods
    there cover today).

    Django's own filter on a many-to-many field joins the memberships and then
    needs SELECT DISTINCT, which at 100k doctors is about twice as slow. An
    EXISTS per doctor plans the same as IN on PostgreSQL (a hash join), but
    SQLite runs it once per doctor (ten times slower at 100k doctors); IN reads
    the department's index once. The parameter keeps Django's name, so links
    built for the default filter work.
    """

    parameter_name = "departments__id__exact"

    def in_department(self, queryset, department_id: int):
        return queryset.filter(
            pk__in=Membership.objects.current()
            .filter(department_id=department_id)
            .values("doctor_id")
        )
