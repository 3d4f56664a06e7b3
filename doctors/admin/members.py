"""Member management: the membership list, scoped to one department or doctor.

A department may hold thousands of members, so its page shows only the count and
the head and links here. This list is a Membership changelist: search by the
doctor's name or license, filters (department, role, primary, doctor active),
sorting and pages of 50 rows, with role, primary and joining date editable in
place (about six POST fields a row, well under Django's default
DATA_UPLOAD_MAX_NUMBER_FIELDS), actions (remove, make head, set or unset
primary) and an "Add doctors" form with a multi-select autocomplete.

Every change is a plain save or delete of one Membership row, so the signal
receivers write exactly one feed event and one history row for it, and bump the
dashboard cache once per request; after the request one message per department
names the doctors (built by membership_report, like the record pages' message).

Each editable row carries the version of the row it showed; a row someone else
changed since the page was opened is refused, not overwritten.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.contrib.admin.widgets import AdminDateWidget, AutocompleteSelectMultiple
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.forms.models import BaseModelFormSet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import capfirst

from .. import concurrency
from ..models import Department, Doctor, Membership, membership_save_order
from .filters import DepartmentFilter
from .forms import MembershipAdminForm, set_submitted_value
from .integrity import ConstraintSafeAdminMixin, explain_integrity_error
from .memberships import (
    MembershipForm,
    forget_membership_changes,
    report_membership_changes,
)
from .rows import ActionCheckboxMixin
from .search import TrigramSearchMixin

ROW_VERSION = "row-version-{}"
# Doctors one "Add doctors" submission may add: the form posts one field per doctor.
ADD_DOCTORS_LIMIT = 100
# Rows one action may change: each is its own save, feed event and history row,
# and the request must end well within the server's timeout.
ACTION_LIMIT = 500


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


class MembershipRowForm(MembershipForm):
    """One editable row of the list; refuses to save over a change made since
    the page was opened."""

    def clean(self):
        cleaned_data = super().clean()
        if self.instance.pk is None or not self.has_changed():
            return cleaned_data
        posted = self.data.get(ROW_VERSION.format(self.instance.pk))
        if posted != concurrency.row_version(self.instance):
            # On a field the user changed: the list shows a row's errors only
            # in its cells.
            field = self.changed_data[0]
            self._show_stored_values()
            self.add_error(
                field,
                ValidationError(
                    "%(row)s was changed %(change)s since you opened this page; "
                    "the row now shows what is stored. Make your change again.",
                    code="stale",
                    params={
                        "row": self.instance,
                        "change": concurrency.last_change_description(self.instance),
                    },
                ),
            )
        return cleaned_data

    def _show_stored_values(self) -> None:
        """Put the row's stored values back in the form: saving the page again
        must not carry this row's stale values over the other person's."""
        data = self.data.copy()
        for name, field in self.fields.items():
            if name == self.instance._meta.pk.name:
                continue
            set_submitted_value(
                data, self.add_prefix(name), field, self.initial.get(name)
            )
        self.data = data


def _html_attrs(attrs: dict) -> str:
    """Attributes as Django's attrs.html writes them."""
    return format_html_join(
        "",
        "{}",
        (
            (
                format_html(" {}", name)
                if value is True
                else format_html(' {}="{}"', name, value),
            )
            for name, value in attrs.items()
            if value is not False and value is not None
        ),
    )


def render_directly(widget: forms.Widget) -> None:
    """Make `widget` write its HTML without the template engine.

    The list renders about five widgets a row; through templates that is most
    of the page's time (about 2 ms a row). The markup is what Django's widget
    templates write: an <input>, or a <select> of <option>s; a date keeps the
    admin's <p class="date"> wrapper.
    """

    def render(name, value, attrs=None, renderer=None):
        context = widget.get_context(name, value, attrs)["widget"]
        if isinstance(widget, forms.Select):
            options = format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                (
                    (option["value"], _html_attrs(option["attrs"]), option["label"])
                    for _, group, _ in context["optgroups"]
                    for option in group
                ),
            )
            return format_html(
                '<select name="{}"{}>{}</select>',
                context["name"],
                _html_attrs(context["attrs"]),
                options,
            )
        value_attr = (
            format_html(' value="{}"', context["value"])
            if context["value"] is not None
            else ""
        )
        html = format_html(
            '<input type="{}" name="{}"{}{}>',
            context["type"],
            context["name"],
            value_attr,
            _html_attrs(context["attrs"]),
        )
        if isinstance(widget, AdminDateWidget):
            html = format_html('<p class="date">{}</p>', html)
        return html

    widget.render = render


class _LoadedRowField(forms.ModelChoiceField):
    """The hidden id of a list row: the row the formset already loaded (with
    the page's other rows, in one query) rather than a query per row."""

    loaded = None

    def to_python(self, value):
        if self.loaded is not None and str(value) == str(self.loaded.pk):
            return self.loaded
        return super().to_python(value)


class MembershipRowFormSet(BaseModelFormSet):
    """The list's rows validated together: one head per department and one
    primary department per doctor, counting rows saved elsewhere."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        name = self.model._meta.pk.name
        field = form.fields.get(name)
        if type(field) is forms.ModelChoiceField and form.instance.pk is not None:
            field.__class__ = _LoadedRowField
            field.loaded = form.instance
        for field in form.fields.values():
            render_directly(field.widget)
        if "joined_on" in form.fields:
            # The value shown is the row's own (form.initial), so the browser
            # need not send it back in a second, hidden input.
            form.fields["joined_on"].show_hidden_initial = False

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        changed = [form for form in self.forms if form.has_changed()]
        self._check(
            changed,
            field="role",
            value=Membership.Role.HEAD,
            side="department_id",
            within="{name} can have only one head.",
            stored="{name} already has a head: {holder}. Make them a member in "
            "the same save, or use the action 'Make head'.",
        )
        self._check(
            changed,
            field="is_primary",
            value=True,
            side="doctor_id",
            within="{name} can have only one primary department.",
            stored="{name} already has a primary department: {holder}.",
        )

    def _check(self, changed, *, field, value, side, within, stored):
        if field not in self.form.base_fields:
            return
        claiming = [f for f in changed if f.cleaned_data.get(field) == value]
        wanted = {getattr(form.instance, side) for form in claiming}
        if not wanted:
            return
        # Who else holds it after this save: unchanged rows of this page, and
        # rows not on the page as stored.
        holders: dict[int, Membership] = {}
        on_page = [form.instance.pk for form in self.forms]
        for form in self.forms:
            if form not in changed and form.initial.get(field) == value:
                holders.setdefault(getattr(form.instance, side), form.instance)
        stored_rows = (
            Membership.objects.filter(**{f"{side}__in": wanted, field: value})
            .exclude(pk__in=on_page)
            .select_related("doctor", "department")
        )
        for row in stored_rows:
            holders.setdefault(getattr(row, side), row)
        for form in claiming:
            key = getattr(form.instance, side)
            name = (
                form.instance.department
                if side == "department_id"
                else (form.instance.doctor)
            )
            if key in holders:
                other = holders[key]
                holder = other.doctor if side == "department_id" else other.department
                form.add_error(field, stored.format(name=name, holder=holder))
            elif sum(getattr(f.instance, side) == key for f in claiming) > 1:
                form.add_error(field, within.format(name=name))

    def release_first(self):
        """The changed rows, in an order the constraints allow at every step
        (models.membership_save_order): saving in page order could pass through
        a state the database refuses (two heads while a head is handed over)."""

        def save_order(form):
            data = form.cleaned_data
            return membership_save_order(
                was_head=form.initial.get("role") == Membership.Role.HEAD,
                was_primary=bool(form.initial.get("is_primary")),
                is_head=data.get("role") == Membership.Role.HEAD,
                is_primary=bool(data.get("is_primary")),
            )

        changed = [form for form in self.forms if form.has_changed()]
        return sorted(changed, key=save_order)


class AddDoctorsForm(forms.Form):
    department = forms.ModelChoiceField(
        queryset=Department.objects.all(), widget=forms.HiddenInput
    )
    doctors = forms.ModelMultipleChoiceField(
        queryset=Doctor.objects.all(),
        help_text=f"Type a name or a license number; pick up to {ADD_DOCTORS_LIMIT} "
        "doctors.",
    )
    joined_on = forms.DateField(
        label="Joined on",
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["doctors"]
        field.widget = AutocompleteSelectMultiple(
            Membership._meta.get_field("doctor"),
            admin_site,
            attrs={"aria-label": "Doctors to add", "data-width": "30em"},
            choices=field.choices,
        )

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
        already = Doctor.objects.filter(
            pk__in=[d.pk for d in doctors], memberships__department=department
        )
        names = ", ".join(str(doctor) for doctor in already)
        if names:
            self.add_error("doctors", f"Already in {department}: {names}.")
        return cleaned_data


@admin.register(Membership)
class MembershipAdmin(
    ConstraintSafeAdminMixin, ActionCheckboxMixin, TrigramSearchMixin, admin.ModelAdmin
):
    change_list_template = "admin/doctors/membership_change_list.html"
    list_display = [
        "doctor_name",
        "license",
        "department",
        "role",
        "is_primary",
        "joined_on",
        "doctor_active",
    ]
    list_display_links = None
    list_editable = ["role", "is_primary", "joined_on"]
    list_filter = [
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
    fields = ["doctor", "department", "role", "joined_on", "is_primary", "version"]
    autocomplete_fields = ["doctor", "department"]
    actions = ["remove_selected", "make_head", "set_primary", "unset_primary"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("doctor", "department")

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
        # only the list_editable fields of each row's form.
        return format_html(
            '<a href="{}">{}, {}</a><input type="hidden" name="{}" value="{}">',
            reverse("admin:doctors_doctor_change", args=[membership.doctor_id]),
            membership.doctor.last_name,
            membership.doctor.first_name,
            ROW_VERSION.format(membership.pk),
            concurrency.row_version(membership),
        )

    @admin.display(description="license", ordering="doctor__license_number")
    def license(self, membership):
        return membership.doctor.license_number

    @admin.display(description="doctor active", boolean=True)
    def doctor_active(self, membership):
        return membership.doctor.is_active

    # In-place edits --------------------------------------------------------------

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", MembershipRowForm)
        return super().get_changelist_form(request, **kwargs)

    def get_changelist_formset(self, request, **kwargs):
        kwargs.setdefault("formset", MembershipRowFormSet)
        formset = super().get_changelist_formset(request, **kwargs)
        return formset

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.name in self.list_editable:
            field.widget.attrs.setdefault("aria-label", capfirst(db_field.verbose_name))
        return field

    def _save_formset(self, request, formset):
        # Django's own loop saves rows in page order and adds a generic count
        # message; rows giving up a head role or a primary flag go first here,
        # and the message names the doctors (see report_membership_changes).
        with transaction.atomic():
            for form in formset.release_first():
                if not self.has_change_permission(request, form.instance):
                    continue
                stored = concurrency.version_of(form.instance, lock=True)
                if stored != form.data.get(ROW_VERSION.format(form.instance.pk)):
                    raise IntegrityError("stale membership row")
                obj = self.save_form(request, form, change=True)
                self.save_model(request, obj, form, change=True)
                self.log_change(
                    request, obj, self.construct_change_message(request, form, None)
                )

    def changelist_view(self, request, extra_context=None):
        department = self._scoped_department(request)
        extra_context = {
            "scoped_department": department,
            **(extra_context or {}),
        }
        if department is not None:
            extra_context["title"] = f"Members of {department}"
            if self.has_add_permission(request):
                extra_context["add_doctors_form"] = AddDoctorsForm(
                    initial={"department": department.pk},
                    admin_site=self.admin_site,
                )
                extra_context["add_doctors_url"] = reverse(
                    "admin:doctors_membership_add_doctors"
                )
        try:
            response = super().changelist_view(request, extra_context)
        except IntegrityError as error:
            forget_membership_changes()
            reason = (
                "a row was changed by someone else since you opened this page."
                if "stale membership row" in str(error)
                else explain_integrity_error(error)
            )
            self.message_user(
                request, f"Nothing was saved: {reason} Please review.", messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())
        report_membership_changes(request, self, per="department")
        return response

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # ConstraintSafeAdminMixin turns a refused save into a message and
        # forgets the changes it collected; a save that went through is reported.
        response = super().changeform_view(request, object_id, form_url, extra_context)
        report_membership_changes(request, self, per="department")
        return response

    def _scoped_department(self, request):
        value = request.GET.get(DepartmentScopeFilter.parameter_name)
        try:
            return Department.objects.filter(pk=int(value)).first() if value else None
        except ValueError:
            return None

    # Actions ---------------------------------------------------------------------

    @admin.action(
        description="Remove selected doctors from the department",
        permissions=["delete"],
    )
    def remove_selected(self, request, queryset):
        if self._too_many(request, queryset):
            return
        with transaction.atomic():
            for membership in queryset.select_for_update(of=("self",)).order_by("pk"):
                membership.delete()

    @admin.action(
        description="Make head of the department (the current head becomes a member)",
        permissions=["change"],
    )
    def make_head(self, request, queryset):
        chosen = list(queryset[:2])
        if len(chosen) != 1:
            self.message_user(
                request, "Select exactly one member to make head.", messages.ERROR
            )
            return
        membership = chosen[0]
        if membership.role == Membership.Role.HEAD:
            self.message_user(
                request, f"{membership.doctor} is already head.", messages.WARNING
            )
            return
        with transaction.atomic():
            heads = (
                Membership.objects.select_for_update(of=("self",))
                .filter(department_id=membership.department_id, role="head")
                .select_related("doctor", "department")
            )
            for head in heads:
                head.role = Membership.Role.MEMBER
                head.save()
            membership.role = Membership.Role.HEAD
            membership.save()

    @admin.action(
        description="Set as the doctors' primary department", permissions=["change"]
    )
    def set_primary(self, request, queryset):
        if self._too_many(request, queryset):
            return
        chosen = [m for m in queryset.order_by("pk") if not m.is_primary]
        conflicts = (
            Membership.objects.filter(
                doctor_id__in=[m.doctor_id for m in chosen], is_primary=True
            )
            .select_related("doctor", "department")
            .order_by("doctor__last_name", "doctor__first_name")
        )
        problems = [
            f"{other.doctor} already has a primary department: {other.department}"
            for other in conflicts
        ]
        doctors = [m.doctor_id for m in chosen]
        if len(doctors) != len(set(doctors)):
            problems.append("a doctor can have only one primary department")
        if problems:
            self.message_user(
                request,
                f"Nothing was changed: {'; '.join(problems)}. Unset it there first.",
                messages.ERROR,
            )
            return
        with transaction.atomic():
            for membership in chosen:
                membership.is_primary = True
                membership.save()

    @admin.action(description="Unset primary department", permissions=["change"])
    def unset_primary(self, request, queryset):
        if self._too_many(request, queryset):
            return
        with transaction.atomic():
            for membership in queryset.filter(is_primary=True).order_by("pk"):
                membership.is_primary = False
                membership.save()

    def _too_many(self, request, queryset) -> bool:
        count = queryset[: ACTION_LIMIT + 1].count()
        if count > ACTION_LIMIT:
            self.message_user(
                request,
                f"Nothing was changed: select at most {ACTION_LIMIT} members at a "
                "time (narrow the list with the search or the filters).",
                messages.ERROR,
            )
            return True
        return False

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
            try:
                with transaction.atomic():
                    for doctor in form.cleaned_data["doctors"].order_by(
                        "last_name", "first_name", "pk"
                    ):
                        Membership.objects.create(
                            doctor=doctor,
                            department=department,
                            joined_on=form.cleaned_data["joined_on"],
                        )
            except IntegrityError as error:
                forget_membership_changes()
                form.add_error(None, explain_integrity_error(error))
            else:
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
