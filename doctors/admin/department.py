from django.contrib import admin
from django.db.models import (
    Count,
    OuterRef,
    Prefetch,
    Subquery,
)
from simple_history.admin import SimpleHistoryAdmin

from ..importing.runner import DEPARTMENTS
from ..models import Department, Membership
from .csv_io import CsvImportExportMixin
from .forms import DepartmentAdminForm
from .integrity import ConstraintSafeAdminMixin
from .memberships import (
    DepartmentMemberInline,
    MembershipHistoryMixin,
    MembershipMessagesMixin,
)


@admin.register(Department)
class DepartmentAdmin(
    CsvImportExportMixin,
    ConstraintSafeAdminMixin,
    MembershipMessagesMixin,
    MembershipHistoryMixin,
    SimpleHistoryAdmin,
):
    form = DepartmentAdminForm
    csv_kind = DEPARTMENTS
    membership_message_per = "department"
    list_display = ["code", "name", "member_count", "head", "is_active"]
    list_display_links = ["code", "name"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]
    actions = ["export_selected"]
    readonly_fields = ["created_at", "updated_at"]
    fields = [
        "code",
        "name",
        "description",
        "is_active",
        "created_at",
        "updated_at",
        "version",
    ]
    inlines = [DepartmentMemberInline]

    def get_queryset(self, request):
        # Member counts come from a subquery in the same query as the departments
        # (a subquery, unlike a join with GROUP BY, is left out of the
        # paginator's COUNT) and heads come in one prefetch: no query per row.
        heads = Membership.objects.filter(role=Membership.Role.HEAD).select_related(
            "doctor"
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=Subquery(
                    Membership.objects.filter(department=OuterRef("pk"))
                    .values("department")
                    .annotate(total=Count("pk"))
                    .values("total")
                )
            )
            .prefetch_related(Prefetch("memberships", queryset=heads, to_attr="heads"))
        )

    @admin.display(description="members", ordering="member_total")
    def member_count(self, department):
        return department.member_total or 0

    @admin.display(description="head")
    def head(self, department):
        return department.heads[0].doctor.full_name if department.heads else "—"
