"""Member management: the membership list, scoped to one department or doctor.

A department may hold thousands of members, so its page shows only the count and
the head and links here. This list is a Membership changelist: search by the
doctor's name or license, filters (department, role, primary, doctor active),
sorting and pages of 50 rows. It lists the periods not ended (current members
and those who join later), each with its first and last day, which are
corrected in place (about five POST fields a row, well under Django's default
DATA_UPLOAD_MAX_NUMBER_FIELDS); actions end a period on a chosen last day
(asked first on a confirmation page), or make head, set or unset primary from
a chosen day; an "Add doctors" form starts periods from a chosen first day,
with a multi-select autocomplete that leaves out the department's members. Every
change takes an optional reason (beside the actions, on "Add doctors", on the
confirmation) and names its change-set after what was done. Making a head or a
primary department hands it over from its holder in the same transaction,
whether or not the holder's row is on the page.

Every change is a save of Membership rows (doctors.period_changes), so the
signal receivers write one feed event per period and its history rows, and bump the
dashboard cache once per request; after the request one message per department
names the doctors (built by membership_sentences, like the record pages'
message).

The package, by concern:
- scope.py: the department and doctor the list is narrowed to
- rendering.py: the row widgets, written without the template engine
- editing.py: in-place edits, their rules, versions and row locks
- actions.py: remove, make head, set and unset primary, locked and versioned
- add_doctors.py: the "Add doctors" form
"""

from contextlib import nullcontext

from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import BadRequest, PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import capfirst

from ... import concurrency, period_changes
from ...models import Department, Membership
from ...periods import PeriodEvent
from ..changesets import describe, take_reason
from ..forms import MembershipAdminForm
from ..integrity import ConstraintSafeAdminMixin, explain_integrity_error
from ..member_days import MembersOnDayFilter, chosen_day
from ..membership_files import MembershipFilesMixin
from ..membership_messages import (
    forget_membership_changes,
    report_membership_changes,
)
from ..naming import names_of
from ..rows import ActionCheckboxMixin
from ..search import TrigramSearchMixin
from . import actions
from .actions import MemberActionForm
from .add_doctors import AddDoctorsForm
from .editing import ROW_VERSION, MembershipRowForm, MembershipRowFormSet
from .scope import DepartmentScopeFilter, DoctorScopeFilter

__all__ = ["ROW_VERSION", "MembershipAdmin"]


@admin.register(Membership)
class MembershipAdmin(
    MembershipFilesMixin,
    ConstraintSafeAdminMixin,
    ActionCheckboxMixin,
    TrigramSearchMixin,
    admin.ModelAdmin,
):
    change_list_template = "admin/doctors/membership_change_list.html"
    # One membership's page and its delete confirmation take a reason too.
    change_form_template = "admin/doctors/change_form_reason.html"
    delete_confirmation_template = "admin/doctors/delete_confirmation_reason.html"
    list_display = [
        "doctor_name",
        "license",
        "department",
        "role_column",
        "primary_column",
        "joined_on",
        "left_on",
    ]
    list_display_links = None
    # Corrections of a period's dates; a role or primary department changes
    # from a day, through the actions.
    list_editable = ["joined_on", "left_on"]
    list_filter = [
        # First: it starts from every period when a day is chosen.
        MembersOnDayFilter,
        DepartmentScopeFilter,
        "role",
        "is_primary",
        ("doctor__is_active", admin.BooleanFieldListFilter),
        DoctorScopeFilter,
    ]
    list_select_related = ["doctor", "department"]
    search_fields = [
        "doctor__last_name",
        "doctor__first_name",
        "^doctor__license_number",
    ]
    search_help_text = "A doctor's name, or the start of a license number."
    search_index = ("doctors_doctor_fts", "doctor_id")
    # By name, then the (doctor, department) pair, which is unique: the database
    # can walk the doctors' name index and each doctor's memberships in order
    # instead of sorting every membership of the department for each page.
    ordering = ["doctor__last_name", "doctor__first_name", "doctor_id", "department_id"]
    # 50 rows: about 300 POST fields, and the page renders in well under the
    # 300 ms the clinic aims at.
    list_per_page = 50
    # The unfiltered total would be a second COUNT on every searched page.
    show_full_result_count = False
    form = MembershipAdminForm
    fields = [
        "doctor",
        "department",
        "role",
        "joined_on",
        "left_on",
        "is_primary",
        "version",
    ]
    autocomplete_fields = ["doctor", "department"]
    actions = ["remove_selected", "make_head", "set_primary", "unset_primary"]
    # The actions and the in-place edits share the list's one form: the reason
    # typed beside the actions goes with either.
    action_form = MemberActionForm

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if MembersOnDayFilter.parameter_name in request.GET:
            # A chosen day asks about every period (its members may have left
            # since); MembersOnDayFilter keeps those covering the day.
            queryset = Membership.objects.all().order_by(*queryset.query.order_by)
        return queryset.select_related("doctor", "department")

    def get_list_display(self, request):
        # One department's members: the page's title names the department.
        # Every membership: the license goes under the doctor's name, so the
        # department fits beside them on a laptop.
        if self._scoped_department(request) is not None:
            return [name for name in self.list_display if name != "department"]
        return [
            "doctor_with_license" if name == "doctor_name" else name
            for name in self.list_display
            if name != "license"
        ]

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        # Django's bulk delete lists every row on a confirmation page;
        # "Remove selected" deletes them the same way, row by row.
        actions.pop("delete_selected", None)
        return actions

    @property
    def media(self):
        return super().media + self._doctors_widget().media

    def _doctors_widget(self):
        return AutocompleteSelectMultiple(
            Membership._meta.get_field("doctor"), self.admin_site
        )

    # Columns ---------------------------------------------------------------------

    @admin.display(description="doctor", ordering="doctor__last_name")
    def doctor_name(self, membership):
        # The row's version rides along in this cell: the changelist renders
        # only the list_editable fields of each row's form. An inactive doctor
        # is marked here rather than in a column of its own, so the list fits
        # a laptop's width.
        return format_html(
            '<a href="{}">{}, {}</a>{}<input type="hidden" name="{}" value="{}">',
            reverse("admin:doctors_doctor_change", args=[membership.doctor_id]),
            membership.doctor.last_name,
            membership.doctor.first_name,
            format_html(' <span class="inactive">{}</span>', "(inactive)")
            if not membership.doctor.is_active
            else "",
            ROW_VERSION.format(membership.pk),
            concurrency.row_version(membership),
        )

    @admin.display(description="doctor", ordering="doctor__last_name")
    def doctor_with_license(self, membership):
        return format_html(
            '{}<br><span class="license">{}</span>',
            self.doctor_name(membership),
            membership.doctor.license_number,
        )

    # Read-only here (a role or primary department changes from a day,
    # through the actions), in short words so the dates fit beside them.
    @admin.display(description="role", ordering="role")
    def role_column(self, membership):
        return "Head" if membership.role == Membership.Role.HEAD else "Member"

    @admin.display(description="primary", ordering="is_primary", boolean=True)
    def primary_column(self, membership):
        return membership.is_primary

    @admin.display(description="license", ordering="doctor__license_number")
    def license(self, membership):
        return membership.doctor.license_number

    # In-place edits --------------------------------------------------------------

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", MembershipRowForm)
        return super().get_changelist_form(request, **kwargs)

    def get_changelist_formset(self, request, **kwargs):
        kwargs.setdefault("formset", MembershipRowFormSet)
        kwargs.setdefault("edit_only", True)
        formset = super().get_changelist_formset(request, **kwargs)

        def report_already_saved(rows):
            self.message_user(
                request,
                f"Already saved, left as it is: {names_of(rows)}.",
                messages.WARNING,
            )

        return type(
            formset.__name__,
            (formset,),
            {"report_already_saved": staticmethod(report_already_saved)},
        )

    def _save_formset(self, request, formset):
        # Django's own loop, without its count message ("2 memberships were
        # changed successfully"): report_membership_changes names the doctors
        # instead, and Django offers no public hook for that message. The
        # rows come locked from MembershipRowFormSet.
        for form in formset.forms:
            if form.has_changed() and self.has_change_permission(
                request, form.instance
            ):
                if form.instance.pk is None:
                    # A forged extra row, as Django's loop refuses it.
                    raise BadRequest("list_editable does not allow adding.")
                obj = self.save_form(request, form, change=True)
                self.save_model(request, obj, form, change=True)
                self.save_related(request, form, formsets=[], change=True)
                self.log_change(
                    request, obj, self.construct_change_message(request, form, None)
                )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.name in self.list_editable:
            field.widget.attrs.setdefault("aria-label", capfirst(db_field.verbose_name))
        return field

    def changelist_view(self, request, extra_context=None):
        department = self._scoped_department(request)
        extra_context = {
            "scoped_department": department,
            **(extra_context or {}),
        }
        if department is not None:
            extra_context["title"] = f"Members of {department}"
            day = chosen_day(request)
            if day is not None:
                # The page lists that day's members: the heading says which.
                extra_context["title"] += f" on {date_format(day)}"
            if self.has_add_permission(request):
                extra_context["add_doctors_form"] = AddDoctorsForm(
                    initial={"department": department.pk},
                    admin_site=self.admin_site,
                )
                extra_context["add_doctors_url"] = reverse(
                    "admin:doctors_membership_add_doctors"
                )
        take_reason(request)
        if request.method == "POST" and "_save" in request.POST:
            describe(
                f"Edited members of {department}"
                if department is not None
                else "Edited memberships"
            )
        try:
            # A save or an action locks the rows it changes as it reads them
            # and keeps them locked until it has written them.
            posted = request.method == "POST"
            with transaction.atomic() if posted else nullcontext():
                response = super().changelist_view(request, extra_context)
        except IntegrityError as error:
            forget_membership_changes()
            self.message_user(
                request,
                f"Nothing was saved: {explain_integrity_error(error)} Please review.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        report_membership_changes(request, self, per="department")
        return response

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # ConstraintSafeAdminMixin turns a refused save into a message and
        # forgets the changes it collected; a save that went through is reported.
        take_reason(request)
        response = super().changeform_view(request, object_id, form_url, extra_context)
        report_membership_changes(request, self, per="department")
        return response

    def delete_model(self, request, obj):
        # Removing a member ends the period (yesterday: no longer a member
        # today); a period that has not started is cancelled.
        period_changes.leave([obj])

    def delete_queryset(self, request, queryset):
        period_changes.leave(queryset)

    def delete_view(self, request, object_id, extra_context=None):
        take_reason(request)
        if request.method == "POST":
            membership = self.get_object(request, object_id)
            if membership is not None:
                describe(f"Removed {membership.doctor} from {membership.department}")
        return super().delete_view(request, object_id, extra_context)

    def _scoped_department(self, request):
        # Read once per request: the title, the columns and the actions ask.
        if not hasattr(request, "_scoped_department"):
            value = request.GET.get(DepartmentScopeFilter.parameter_name, "")
            request._scoped_department = (
                Department.objects.filter(pk=int(value)).first()
                if value.isdigit()
                else None
            )
        return request._scoped_department

    # Actions ---------------------------------------------------------------------

    @admin.action(
        description="Remove selected doctors from the department",
        permissions=["delete"],
    )
    def remove_selected(self, request, queryset):
        if actions.too_many(self, request, queryset):
            return None
        # Asked first: who goes, their last day and why (the reason box).
        department = self._scoped_department(request)
        return actions.confirm_removal(
            self,
            request,
            queryset,
            back_label=f"Members of {department}" if department else "Memberships",
        )

    @admin.action(
        description="Make head from the day chosen (the head becomes a member)",
        permissions=["change"],
    )
    def make_head(self, request, queryset):
        day = actions.effective_day(self, request)
        if day is not None:
            actions.make_head(self, request, queryset, day=day)

    @admin.action(
        description="Set as the doctors' primary department from the day chosen",
        permissions=["change"],
    )
    def set_primary(self, request, queryset):
        day = actions.effective_day(self, request)
        if day is not None and not actions.too_many(self, request, queryset):
            actions.set_primary(self, request, queryset, day=day)

    @admin.action(
        description="Unset primary department from the day chosen",
        permissions=["change"],
    )
    def unset_primary(self, request, queryset):
        day = actions.effective_day(self, request)
        if day is not None and not actions.too_many(self, request, queryset):
            actions.unset_primary(self, request, queryset, day=day)

    # Add doctors -----------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "add-doctors/",
                self.admin_site.admin_view(self.add_doctors_view),
                name="doctors_membership_add_doctors",
            ),
            *super().get_urls(),
        ]

    def add_doctors_view(self, request):
        """Add several doctors to one department at once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AddDoctorsForm(
            request.POST or None,
            initial={"department": request.GET.get("department")},
            admin_site=self.admin_site,
        )
        if request.method == "POST" and form.is_valid():
            department = form.cleaned_data["department"]
            doctors = form.cleaned_data["doctors"].order_by(
                "last_name", "first_name", "pk"
            )
            take_reason(request)
            count = len(doctors)
            describe(
                f"Added {'1 doctor' if count == 1 else f'{count:,} doctors'} "
                f"to {department}"
            )
            try:
                with transaction.atomic():
                    concurrency.lock_doctors([doctor.pk for doctor in doctors])
                    refused = form.refuse_doctors_already_in()
                    if not refused:
                        for doctor in doctors:
                            # The form checked the rules (a new member
                            # holds no head role or primary flag); the
                            # database refuses a race past it.
                            membership = Membership(
                                doctor=doctor,
                                department=department,
                                joined_on=form.cleaned_data["joined_on"],
                            )
                            membership.period_event = PeriodEvent.STARTED
                            membership.save()
            except IntegrityError as error:
                forget_membership_changes()
                form.add_error(None, explain_integrity_error(error))
            else:
                if not refused:
                    report_membership_changes(request, self, per="department")
                    return HttpResponseRedirect(self.members_url(department))
        department = (
            form.cleaned_data.get("department")
            if form.is_bound and hasattr(form, "cleaned_data")
            else Department.objects.filter(
                pk=form.initial.get("department") or 0
            ).first()
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Add doctors to {department}" if department else "Add doctors",
            "form": form,
            "department": department,
            "media": self.media + form.media,
            "members_url": self.members_url(department) if department else None,
        }
        return TemplateResponse(request, "admin/doctors/add_doctors.html", context)

    @staticmethod
    def members_url(department) -> str:
        return (
            reverse("admin:doctors_membership_changelist")
            + "?"
            + urlencode({DepartmentScopeFilter.parameter_name: department.pk})
        )
