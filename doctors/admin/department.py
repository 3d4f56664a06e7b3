from django.contrib import admin
from django.db.models import (
    Count,
    OuterRef,
    Prefetch,
    Subquery,
)
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from ..models import Department, Membership
from ..runs.imports import DEPARTMENTS
from .changesets import ChangeReasonMixin
from .csv_io import CsvImportExportMixin
from .forms import DepartmentAdminForm
from .integrity import ConstraintSafeAdminMixin
from .member_list import MembershipAdmin
from .membership_history_page import MembershipHistoryMixin
from .membership_messages import MembershipMessagesMixin
from .timetravel import MembersOnDateMixin, TimeTravelAdminMixin


@admin.register(Department)
class DepartmentAdmin(
    ChangeReasonMixin,
    CsvImportExportMixin,
    ConstraintSafeAdminMixin,
    MembershipMessagesMixin,
    MembersOnDateMixin,
    TimeTravelAdminMixin,
    MembershipHistoryMixin,
    SimpleHistoryAdmin,
):
    form = DepartmentAdminForm
    # The reason field's page, with a link to the members on a date.
    change_form_template = "admin/doctors/department/change_form.html"
    csv_kind = DEPARTMENTS
    membership_message_per = "department"
    list_display = ["code", "name", "member_count", "head", "is_active"]
    list_display_links = ["code", "name"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]
    actions = ["export_selected", "delete_selected"]
    readonly_fields = ["members", "head_of_department", "created_at", "updated_at"]
    fields = [
        "code",
        "name",
        "description",
        "is_active",
        "members",
        "head_of_department",
        "created_at",
        "updated_at",
        "version",
    ]
    # The members are not form rows here: a department may have thousands. The
    # page shows their number and the head and links to the member list
    # (MembershipAdmin scoped to the department), so opening and saving it
    # cost the same whatever its size.

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is None:
            return [f for f in fields if f not in ("members", "head_of_department")]
        return fields

    def get_queryset(self, request):
        # Member counts come from a subquery in the same query as the departments
        # (a subquery, unlike a join with GROUP BY, is left out of the
        # paginator's COUNT) and heads come in one prefetch: no query per row.
        # Both are of today: the periods covering today.
        heads = (
            Membership.objects.current()
            .filter(role=Membership.Role.HEAD)
            .select_related("doctor")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=Subquery(
                    Membership.objects.current()
                    .filter(department=OuterRef("pk"))
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

    # The change page reads both from the annotated queryset that fetched the
    # department: no query of its own.
    @admin.display(description="members")
    def members(self, department):
        total = department.member_total or 0
        return format_html(
            '{} {} · <a href="{}" class="manage-members">Manage members</a>',
            f"{total:,}",
            "member" if total == 1 else "members",
            MembershipAdmin.members_url(department),
        )

    @admin.display(description="head of department")
    def head_of_department(self, department):
        if not department.heads:
            return "—"
        doctor = department.heads[0].doctor
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:doctors_doctor_change", args=[doctor.pk]),
            doctor.full_name,
        )
