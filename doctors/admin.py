import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import (
    Case,
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
)
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from . import activity, concurrency, context, membership_report
from .admin_csv import CsvImportExportMixin
from .importing.runner import DEPARTMENTS, DOCTORS
from .models import ActivityEvent, Department, Doctor, Membership

# PostgreSQL names the violated constraint; SQLite names its columns instead.
CONSTRAINT_MESSAGES = [
    (
        ("membership_one_head_per_department", "doctors_membership.department_id"),
        "That department already has a head.",
    ),
    (
        ("membership_one_primary_per_doctor", "doctors_membership.doctor_id"),
        "That doctor already has a primary department.",
    ),
    (
        (
            "membership_unique_doctor_department",
            "doctors_membership.doctor_id, doctors_membership.department_id",
        ),
        "That doctor is already in that department.",
    ),
    (("doctor_email_unique_ci",), "A doctor with that email already exists."),
    (
        ("doctors_doctor_license_number", "doctors_doctor.license_number"),
        "A doctor with that license number already exists.",
    ),
    (
        ("doctors_department_code", "doctors_department.code"),
        "A department with that code already exists.",
    ),
    (
        ("doctors_department_name", "doctors_department.name"),
        "A department with that name already exists.",
    ),
]


def explain_integrity_error(error: IntegrityError) -> str:
    """A sentence for staff from a database constraint violation."""
    text = str(error)
    sqlite = re.search(r"UNIQUE constraint failed: (.+)$", text)
    for needles, message in CONSTRAINT_MESSAGES:
        for needle in needles:
            if sqlite:
                failed = sqlite.group(1).strip()
                if failed in (needle, f"index '{needle}'"):
                    return message
            elif needle in text:
                return message
    return "The change conflicts with data saved meanwhile."


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["doctor", "department", "role", "joined_on", "is_primary"]

    def validate_constraints(self):
        # "One head per department" and "one primary per doctor" depend on the
        # other rows of the same formset (a head can be handed over in one save),
        # so MembershipFormSet checks them against the state after the save.
        exclude = self._get_validation_exclusions() | {"role", "is_primary"}
        try:
            self.instance.validate_constraints(exclude=exclude)
        except ValidationError as error:
            self._update_errors(error)


class MembershipFormSet(BaseInlineFormSet):
    """Membership rows of one doctor or one department, validated as a whole."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        # A tabular inline shows the labels only as column headings, which do
        # not name the inputs of each row for assistive technology.
        for field in form.fields.values():
            if not field.widget.is_hidden:
                field.widget.attrs.setdefault("aria-label", capfirst(field.label))

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [
            form
            for form in self.forms
            if form.cleaned_data
            and not self._should_delete_form(form)
            and form.cleaned_data.get(
                "department" if self.fk.name == "doctor" else "doctor"
            )
        ]
        if self.fk.name == "doctor":
            self._check_within(
                kept, "is_primary", True, "Only one department can be primary."
            )
            self._check_against_database(
                kept,
                flag_field="role",
                flag_value=Membership.Role.HEAD,
                other_side="department",
                message="{other} already has a head: {holder}.",
            )
        else:
            self._check_within(
                kept,
                "role",
                Membership.Role.HEAD,
                "A department can have only one head.",
            )
            self._check_against_database(
                kept,
                flag_field="is_primary",
                flag_value=True,
                other_side="doctor",
                message="{other} already has a primary department: {holder}.",
            )

    def _check_within(self, kept, field, value, message):
        flagged = [form for form in kept if form.cleaned_data.get(field) == value]
        if len(flagged) > 1:
            for form in flagged:
                form.add_error(field, message)

    def _check_against_database(
        self, kept, *, flag_field, flag_value, other_side, message
    ):
        flagged = {
            form.cleaned_data[other_side].pk: form
            for form in kept
            if form.cleaned_data.get(flag_field) == flag_value
        }
        if not flagged:
            return
        holders = Membership.objects.filter(
            **{f"{other_side}__in": list(flagged), flag_field: flag_value}
        ).select_related("doctor", "department")
        if self.instance.pk is not None:
            # This object's own rows are all in the formset and already counted.
            holders = holders.exclude(**{self.fk.name: self.instance})
        for holder in holders:
            other = getattr(holder, other_side)
            holder_side = holder.department if other_side == "doctor" else holder.doctor
            flagged[other.pk].add_error(
                flag_field, message.format(other=other, holder=holder_side)
            )

    def save_existing_objects(self, commit=True):
        # Saving rows in page order could pass through a state the database
        # refuses (two heads while a head is handed over), so rows that give up
        # a head role or a primary flag are saved first.
        self._release_first = True
        try:
            return super().save_existing_objects(commit)
        finally:
            self._release_first = False

    @property
    def initial_forms(self):
        forms = super().initial_forms
        if getattr(self, "_release_first", False):
            return sorted(forms, key=self._gives_up_nothing)
        return forms

    def _gives_up_nothing(self, form) -> bool:
        if self._should_delete_form(form):
            return False
        data = form.cleaned_data
        was_head = form.initial.get("role") == Membership.Role.HEAD
        was_primary = bool(form.initial.get("is_primary"))
        gives_up_head = was_head and data.get("role") != Membership.Role.HEAD
        gives_up_primary = was_primary and not data.get("is_primary")
        return not (gives_up_head or gives_up_primary)


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
    extra = 0
    fields = ["department", "role", "joined_on", "is_primary"]
    autocomplete_fields = ["department"]
    verbose_name = "department membership"
    verbose_name_plural = "department memberships"

    def get_queryset(self, request):
        # The rows show the department's name; fetch it with the membership.
        return super().get_queryset(request).select_related("department")


class DepartmentMemberInline(MembershipInline):
    fields = ["doctor", "role", "joined_on", "is_primary"]
    autocomplete_fields = ["doctor"]
    verbose_name = "member"
    verbose_name_plural = "members"

    def get_queryset(self, request):
        return (
            super(MembershipInline, self)
            .get_queryset(request)
            .select_related("doctor")
            .order_by("doctor__last_name", "doctor__first_name")
        )


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


class ConstraintSafeAdminMixin:
    """Turns a constraint violation that slipped past validation into a message.

    Form validation catches duplicates and second heads, but two staff saving at
    the same moment can both pass it; the database then refuses the second save,
    and the user should read why rather than meet a server error.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError as error:
            self.message_user(
                request,
                f"Nothing was saved: {explain_integrity_error(error)} "
                "Someone may have saved a change at the same time; please review.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())


class VersionedAdminForm(forms.ModelForm):
    """Refuses to save over a change someone else made since the page was opened.

    Every field also carries the value it had when the page was opened (Django's
    show_hidden_initial), so after a conflict the fields this user did not touch
    are refreshed to what is stored now, and only their own edits remain: saving
    again cannot quietly undo the other person's change.
    """

    version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        for name, field in self.fields.items():
            if name != "version":
                field.show_hidden_initial = True
        if not self.is_bound:
            self.fields["version"].initial = concurrency.version_of(self.instance)

    def clean(self):
        cleaned_data = super().clean()
        if self.instance.pk is None:
            return cleaned_data
        # The row lock makes a concurrent save wait here until this one ends
        # (the admin runs the whole save in one transaction).
        current = concurrency.version_of(self.instance, lock=True)
        if cleaned_data.get("version") != current:
            # Formatted now: the message names the object as stored, before
            # this form's data is applied to it.
            name = str(self.instance)
            both_changed = self._refresh_untouched_fields(current)
            detail = (
                f" They also changed {', '.join(both_changed)}, which you changed "
                "too: your values are kept below."
                if both_changed
                else " Fields you did not edit now show their stored values."
            )
            raise ValidationError(
                "%(object)s was changed %(change)s since you opened it; review "
                "and save again.%(detail)s",
                code="stale",
                params={
                    "object": name,
                    "change": concurrency.last_change_description(self.instance),
                    "detail": detail,
                },
            )
        return cleaned_data

    def _refresh_untouched_fields(self, version: str) -> list[str]:
        """Show stored values in the fields this user left alone; return the
        labels of fields both people changed."""
        stored = type(self.instance)._base_manager.get(pk=self.instance.pk)
        edited = set(self.changed_data)
        data = self.data.copy()
        both_changed = []
        for name, field in self.fields.items():
            if name == "version" or field.disabled:
                continue
            key = self.add_prefix(name)
            value = field.prepare_value(getattr(stored, name))
            opened_with = field.to_python(
                field.hidden_widget().value_from_datadict(
                    self.data, self.files, self.add_initial_prefix(name)
                )
            )
            if name in edited:
                if field.has_changed(opened_with, getattr(stored, name)):
                    both_changed.append(str(field.label or name).lower())
                # What was stored when they looked is now the stored value.
            elif isinstance(field.widget, forms.CheckboxInput):
                if value:
                    data[key] = "on"
                else:
                    data.pop(key, None)
            else:
                data[key] = "" if value is None else str(value)
            data[self.add_initial_prefix(name)] = "" if value is None else str(value)
        data[self.add_prefix("version")] = version
        self.data = data
        return both_changed


class DoctorAdminForm(VersionedAdminForm):
    class Meta:
        model = Doctor
        fields = [
            "license_number",
            "first_name",
            "last_name",
            "specialty",
            "email",
            "phone",
            "is_active",
        ]

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        duplicates = Doctor.objects.filter(email__iexact=email)
        if self.instance.pk is not None:
            duplicates = duplicates.exclude(pk=self.instance.pk)
        if duplicates.exists():
            raise ValidationError(
                "A doctor with this email already exists (emails are compared "
                "without regard to case)."
            )
        return email


class DepartmentAdminForm(VersionedAdminForm):
    class Meta:
        model = Department
        fields = ["code", "name", "description", "is_active"]


class MembershipHistoryMixin:
    """The History page also lists the object's membership changes, from the feed."""

    object_history_template = "admin/doctors/object_history.html"
    membership_history_limit = 200

    def history_view(self, request, object_id, extra_context=None):
        if self.model is Doctor:
            about = Q(target_type="doctor", target_id=object_id)
        else:
            about = Q(department_id=object_id)
        events = list(
            ActivityEvent.objects.filter(
                about, verb__startswith="membership_"
            ).order_by("-occurred_at", "-id")[: self.membership_history_limit]
        )
        for event in events:
            event.details = activity.describe_membership_change(event)
        return super().history_view(
            request,
            object_id,
            extra_context={**(extra_context or {}), "membership_events": events},
        )


class MembershipMessagesMixin:
    """After a save, one message per changed object saying what happened to its
    memberships, from what the signal receivers collected in this request."""

    membership_message_per: str

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        collected = context.current().membership_changes
        for sentence in membership_report.sentences(
            collected, per=self.membership_message_per
        ):
            self.message_user(request, sentence, messages.SUCCESS)
        collected.clear()


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
    actions = ["activate", "deactivate"]
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
        from .services import set_doctors_active

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


@admin.register(ActivityEvent)
class ActivityEventAdmin(admin.ModelAdmin):
    """The feed: read-only for everyone, superusers included."""

    list_display = [
        "occurred_at",
        "actor_name",
        "source",
        "verb",
        "target_link",
        "department_text",
        "summary",
    ]
    list_filter = [
        "verb",
        "source",
        ("actor", admin.RelatedOnlyFieldListFilter),
        "occurred_at",
    ]
    search_fields = ["target_text", "department_text", "actor_name"]
    date_hierarchy = "occurred_at"
    list_per_page = 100
    show_full_result_count = False
    fields = [*list_display, "counts"]
    readonly_fields = fields

    def get_queryset(self, request):
        # Whether each event's target still exists, in the same query, so the
        # link column costs nothing per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                target_exists=Case(
                    When(
                        target_type="doctor",
                        then=Exists(Doctor.objects.filter(pk=OuterRef("target_id"))),
                    ),
                    When(
                        target_type="department",
                        then=Exists(
                            Department.objects.filter(pk=OuterRef("target_id"))
                        ),
                    ),
                    default=Value(False),
                )
            )
        )

    @admin.display(description="target", ordering="target_text")
    def target_link(self, event):
        if event.target_id and getattr(event, "target_exists", False):
            url = reverse(
                f"admin:doctors_{event.target_type}_change", args=[event.target_id]
            )
            return format_html('<a href="{}">{}</a>', url, event.target_text)
        return event.target_text

    @admin.display(description="what changed")
    def summary(self, event):
        return activity.summarize(event)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
