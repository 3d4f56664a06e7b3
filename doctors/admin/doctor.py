from django.contrib import admin, messages
from django.db.models import Prefetch
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from ..importing.runner import DOCTORS
from ..models import Doctor, Membership
from ..services import set_doctors_active
from .csv_io import CsvImportExportMixin
from .filters import DepartmentListFilter
from .forms import DoctorAdminForm
from .integrity import ConstraintSafeAdminMixin
from .memberships import (
    MembershipHistoryMixin,
    MembershipInline,
    MembershipMessagesMixin,
)


@admin.register(Doctor)
class DoctorAdmin(
    CsvImportExportMixin,
    ConstraintSafeAdminMixin,
    MembershipMessagesMixin,
    MembershipHistoryMixin,
    SimpleHistoryAdmin,
):
    form = DoctorAdminForm
    csv_kind = DOCTORS
    membership_message_per = "doctor"
    list_display = [
        "display_name",
        "license_number",
        "specialty",
        "primary_department",
        "department_list",
        "is_active",
        "updated_at",
    ]
    list_display_links = ["display_name", "license_number"]
    list_filter = ["specialty", DepartmentListFilter, "is_active"]
    search_fields = ["last_name", "first_name", "email", "license_number"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["license_number", "first_name", "last_name", "specialty"]}),
        ("Contact", {"fields": ["email", "phone"]}),
        ("Status", {"fields": ["is_active", "created_at", "updated_at", "version"]}),
    ]
    inlines = [MembershipInline]
    actions = ["activate", "deactivate", "export_selected"]
    list_per_page = 100
    # The unfiltered total is a second COUNT over every doctor on each filtered
    # page; "Show all" is enough there.
    show_full_result_count = False

    def get_queryset(self, request):
        # One query fetches every listed doctor's memberships with their
        # departments, so the two department columns cost nothing per row.
        memberships = Membership.objects.select_related("department").order_by(
            "-is_primary", "department__name"
        )
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("memberships", queryset=memberships))
        )

    @admin.display(description="name", ordering="last_name")
    def display_name(self, doctor):
        return f"{doctor.last_name}, {doctor.first_name}"

    @admin.display(description="primary department")
    def primary_department(self, doctor):
        for membership in doctor.memberships.all():
            if membership.is_primary:
                return membership.department.name
        return "—"

    @admin.display(description="departments")
    def department_list(self, doctor):
        return ", ".join(m.department.name for m in doctor.memberships.all()) or "—"

    @admin.action(description="Activate selected doctors", permissions=["change"])
    def activate(self, request, queryset):
        self._set_active(request, queryset, active=True)

    @admin.action(description="Deactivate selected doctors", permissions=["change"])
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, active=False)

    def _set_active(self, request, queryset, *, active):
        changed = set_doctors_active(queryset, active=active)
        state = "active" if active else "inactive"
        self.message_user(
            request,
            ngettext(
                "%(count)d doctor marked %(state)s.",
                "%(count)d doctors marked %(state)s.",
                changed,
            )
            % {"count": changed, "state": state},
            messages.SUCCESS,
        )
