from django.contrib import admin, messages
from django.db.models import Prefetch, Value
from django.db.models.functions import Concat
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from .. import periods
from ..concurrency import DOCTOR_INLINE_LIMIT
from ..models import Doctor, Membership
from ..runs.imports import DOCTORS
from ..services import set_doctors_active
from .changesets import ChangeReasonMixin
from .csv_io import CsvImportExportMixin
from .erasure import ErasureAdminMixin
from .filters import DepartmentListFilter
from .forms import DoctorAdminForm
from .integrity import ConstraintSafeAdminMixin
from .membership_history_page import MembershipHistoryMixin
from .membership_inline import MembershipInline
from .membership_messages import MembershipMessagesMixin
from .naming import names_of
from .rows import ActionCheckboxMixin, RowLinksChangeList
from .search import TrigramSearchMixin
from .timetravel import TimeTravelAdminMixin


class DoctorChangeList(RowLinksChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # One query fetches every listed doctor's current memberships (the
        # periods covering today) with their departments, so the two
        # department columns cost nothing per row. Only the list needs them:
        # the change page must not load every membership.
        memberships = (
            Membership.objects.current()
            .select_related("department")
            .order_by("-is_primary", "department__name")
        )
        return (
            super()
            .get_queryset(request, exclude_parameters)
            .prefetch_related(Prefetch("memberships", queryset=memberships))
        )


@admin.register(Doctor)
class DoctorAdmin(
    ActionCheckboxMixin,
    ChangeReasonMixin,
    CsvImportExportMixin,
    ConstraintSafeAdminMixin,
    ErasureAdminMixin,
    MembershipMessagesMixin,
    TimeTravelAdminMixin,
    MembershipHistoryMixin,
    TrigramSearchMixin,
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
    ]
    list_display_links = ["display_name", "license_number"]
    list_filter = ["specialty", DepartmentListFilter, "is_active"]
    search_fields = ["last_name", "first_name", "email", "^license_number"]
    search_help_text = "A name or an email, or the start of a license number."
    search_index = ("doctors_doctor_fts", "pk")
    readonly_fields = [
        "memberships_link",
        "earlier_periods",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["license_number", "first_name", "last_name", "specialty"]}),
        ("Contact", {"fields": ["email", "phone"]}),
        ("Status", {"fields": ["is_active", "created_at", "updated_at", "version"]}),
    ]
    inlines = [MembershipInline]
    actions = [
        "activate",
        "deactivate",
        "export_selected",
        "delete_selected",
        "erase_personal_data",
    ]
    list_per_page = 100
    # Ended periods named on the doctor's page; the timeline has them all.
    EARLIER_SHOWN = 10
    # The unfiltered total is a second COUNT over every doctor on each filtered
    # page; "Show all" is enough there.
    show_full_result_count = False

    def get_inlines(self, request, obj):
        # Up to DOCTOR_INLINE_LIMIT memberships are edited on the page; a doctor
        # with more has them managed on the membership list, like a department.
        if obj is not None and self._many_memberships(obj):
            return []
        return super().get_inlines(request, obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and self._many_memberships(obj):
            return [*fieldsets, ("Departments", {"fields": ["memberships_link"]})]
        if obj is not None:
            return [*fieldsets, ("Earlier periods", {"fields": ["earlier_periods"]})]
        return fieldsets

    @staticmethod
    def _many_memberships(doctor) -> bool:
        if not hasattr(doctor, "_membership_total"):
            # The periods the inline edits: current and later ones.
            doctor._membership_total = Membership.not_ended.filter(doctor_id=doctor.pk)[
                : DOCTOR_INLINE_LIMIT + 1
            ].count()
        return doctor._membership_total > DOCTOR_INLINE_LIMIT

    @admin.display(description="memberships")
    def memberships_link(self, doctor):
        total = Membership.objects.current().filter(doctor_id=doctor.pk).count()
        return format_html(
            '{} departments · <a href="{}?doctor={}">Manage memberships</a>',
            f"{total:,}",
            reverse("admin:doctors_membership_changelist"),
            doctor.pk,
        )

    @admin.display(description="ended periods")
    def earlier_periods(self, doctor):
        """The periods that ended before today, newest first, read-only: the
        inline edits current and later ones; the History page's timeline has
        every period with who recorded and corrected it."""
        ended = list(
            Membership.objects.filter(doctor_id=doctor.pk, left_on__lt=periods.today())
            .select_related("department")
            .order_by("-left_on", "-pk")[: self.EARLIER_SHOWN + 1]
        )
        history = reverse("admin:doctors_doctor_history", args=[doctor.pk])
        if not ended:
            return "No ended periods."
        items = format_html_join(
            "",
            "<li>{}: {}{}</li>",
            (
                (
                    period.department,
                    period.period_text,
                    " (head)" if period.role == Membership.Role.HEAD else "",
                )
                for period in ended[: self.EARLIER_SHOWN]
            ),
        )
        return format_html(
            '<ul class="earlier-periods">{}</ul><a href="{}">{}</a>',
            items,
            history,
            "Every period on the timeline",
        )

    def get_changelist(self, request, **kwargs):
        return DoctorChangeList

    def get_ordering(self, request):
        # Searching (the list and the autocomplete): results by name, sorted
        # after the trigram indexes found them. Ordered by the plain columns,
        # PostgreSQL would rather walk the name index and test every doctor up
        # to the hundredth match, which for a name late in the alphabet is most
        # of them (70 ms instead of under 1 ms at 100k doctors).
        if len(request.GET.get("q", request.GET.get("term", "")).strip()) >= 3:
            return [
                Concat("last_name", Value("")).asc(),
                Concat("first_name", Value("")).asc(),
                "id",
            ]
        return super().get_ordering(request)

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
        changed, already = set_doctors_active(queryset, active=active)
        state = "active" if active else "inactive"
        if changed or not already:
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
        if already:
            # A repeated or concurrent request: say what had already happened.
            self.message_user(
                request,
                ngettext(
                    "Already %(state)s, left as it was: %(names)s.",
                    "Already %(state)s, left as they were: %(names)s.",
                    len(already),
                )
                % {"state": state, "names": names_of(already)},
                messages.WARNING,
            )
