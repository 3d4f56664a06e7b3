"""Change-sets in the admin: the reason field on forms and actions, and the
change-set's own page listing everything it did."""

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.utils import model_format_dict
from django.urls import reverse
from django.utils.formats import localize
from django.utils.html import format_html
from django.utils.text import Truncator

from .. import activity, context, periods
from ..models import ActivityEvent, ChangeSet, Department, Doctor, Membership
from .readonly import ReadOnlyAdminMixin

REASON_FIELD = "change_reason"
# Rows of each kind the change-set page lists; the counts tell the full size.
LISTED_ROWS = 200


def reason_field() -> forms.CharField:
    return forms.CharField(
        label="Reason",
        max_length=255,
        required=False,
        help_text="Optional: why, for the change history.",
    )


class ReasonActionForm(ActionForm):
    change_reason = reason_field()


class ReasonForm(forms.Form):
    """The reason alone, for the pages that are not a model form (the
    {% reason_box %} template tag)."""

    change_reason = reason_field()

    def __init__(self, *args, label: str = "Reason", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[REASON_FIELD].label = label


def take_reason(request) -> None:
    """The reason typed with a save, an action or a confirm names the request's
    change-set."""
    if request.method == "POST":
        reason = request.POST.get(REASON_FIELD, "").strip()
        if reason:
            context.current().reason = reason[:255]


def describe(text: str) -> None:
    context.current().description = text[:255]


class ChangeReasonMixin:
    """Change forms, delete pages and bulk actions take an optional reason; the
    History page shows each row's change-set and filters by one
    (?change_set=N)."""

    action_form = ReasonActionForm
    # The record's URL is this admin page: "View on site" would lead back here.
    view_on_site = False
    # simple-history heads the column with the attribute's name as it is.
    history_list_display = ["Change-set"]
    change_form_template = "admin/doctors/change_form_reason.html"
    delete_confirmation_template = "admin/doctors/delete_confirmation_reason.html"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        take_reason(request)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        take_reason(request)
        action = request.POST.get("action") if request.method == "POST" else None
        if action:
            describe(self.action_change_set_name(request, action))
        return super().changelist_view(request, extra_context)

    def action_change_set_name(self, request, action: str) -> str:
        """What the person did, in the action's own words with the number of
        records chosen: "Deactivate 3 doctors"."""
        found = self.get_action(action)
        opts = self.opts
        description = (
            str(found.description) % model_format_dict(opts) if found else action
        )
        if request.POST.get("select_across") == "1":
            chosen = f"every {opts.verbose_name} listed"
        else:
            count = len(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))
            noun = opts.verbose_name if count == 1 else opts.verbose_name_plural
            chosen = f"{count} {noun}"
        selected = f"selected {opts.verbose_name_plural}"
        if selected in description:
            return description.replace(selected, chosen)
        return f"{description} ({chosen})"

    # The admin logs each save; the same words name the change-set.

    def log_addition(self, request, obj, message):
        describe(f"Added {self.opts.verbose_name} “{obj}”")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        describe(f"Changed {self.opts.verbose_name} “{obj}”")
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        objects = list(queryset[:2])
        if len(objects) == 1:
            describe(f"Deleted {self.opts.verbose_name} “{objects[0]}”")
        else:
            describe(f"Deleted {self.opts.verbose_name_plural}")
        return super().log_deletions(request, queryset)

    @admin.action(
        description="Delete selected %(verbose_name_plural)s", permissions=["delete"]
    )
    def delete_selected(self, request, queryset):
        # Asks first on a bounded page with the reason box (bulk_delete).
        from .bulk_delete import delete_selected

        return delete_selected(self, request, queryset)

    def delete_view(self, request, object_id, extra_context=None):
        take_reason(request)
        return super().delete_view(request, object_id, extra_context)

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        queryset = super().get_history_queryset(
            request, history_manager, pk_name, object_id
        )
        change_set_id = chosen_change_set(request)
        if change_set_id is not None:
            queryset = queryset.filter(change_set_id=change_set_id)
        return queryset


def _history_change_set(self, record):
    return change_set_id_link(record.change_set_id)


setattr(ChangeReasonMixin, "Change-set", _history_change_set)


def chosen_change_set(request) -> int | None:
    value = request.GET.get("change_set", "")
    return int(value) if value.isdigit() else None


def change_set_link(change_set: ChangeSet | None) -> str:
    return change_set_id_link(change_set.pk if change_set is not None else None)


def change_set_id_link(change_set_id: int | None) -> str:
    """A link to the change-set's page, from its id alone (no query)."""
    if change_set_id is None:
        return "—"
    url = reverse("admin:doctors_changeset_change", args=[change_set_id])
    return format_html('<a href="{}">#{}</a>', url, change_set_id)


# Long texts in a list are cut to this many characters; the page has them whole.
LIST_TEXT_CHARS = 80
# What a change-set's counts count, singular and plural.
ROW_KINDS = {
    "doctor": ("doctor", "doctors"),
    "department": ("department", "departments"),
    "membership": ("membership", "memberships"),
    "events": ("feed event", "feed events"),
}


def rows_written(counts: dict[str, int]) -> str:
    """e.g. "200 doctors, 13 feed events"; "—" for none."""
    parts = []
    for kind, count in counts.items():
        singular, plural = ROW_KINDS.get(kind, (kind, kind))
        parts.append(f"{localize(count)} {singular if count == 1 else plural}")
    return ", ".join(parts) or "—"


class ChangeSetFilter(admin.SimpleListFilter):
    """Filter by one change-set (the link from a change-set's page); the
    sidebar lists only the chosen one, never every change-set."""

    title = "change-set"
    parameter_name = "change_set"

    def lookups(self, request, model_admin):
        value = self.value()
        if value and value.isdigit():
            return [(value, f"#{value}")]
        return []

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(change_set_id=int(value))
        return queryset


@admin.register(ChangeSet)
class ChangeSetAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: a change-set is a record of what happened."""

    # The change-set's URL is this page: no "View on site" leading back here.
    view_on_site = False

    # The source is a filter and what it undoes is on its page: the list keeps
    # what a person scans for, long texts cut (whole on the page).
    list_display = [
        "number",
        "started_at",
        "actor_column",
        "what_column",
        "reason_column",
        "count_summary",
    ]
    list_display_links = ["number", "started_at"]
    list_filter = ["source", ("actor", admin.RelatedOnlyFieldListFilter), "started_at"]
    search_fields = ["description", "reason", "actor_name"]
    date_hierarchy = "started_at"
    list_per_page = 100
    show_full_result_count = False
    list_select_related = ["undoes"]
    change_form_template = "admin/doctors/changeset/change_form.html"
    fields = [
        "actor_name",
        "source",
        "description",
        "reason",
        "started_at",
        "ended_at",
        "count_summary",
        "undoes_link",
        "undone_by_links",
    ]
    readonly_fields = fields

    @admin.display(description="change-set", ordering="id")
    def number(self, change_set):
        return f"#{change_set.pk}"

    @admin.display(description="who", ordering="actor_name")
    def actor_column(self, change_set):
        return change_set.actor_name or "—"

    @admin.display(description="what", ordering="description")
    def what_column(self, change_set):
        return Truncator(change_set.description).chars(LIST_TEXT_CHARS) or "—"

    @admin.display(description="reason", ordering="reason")
    def reason_column(self, change_set):
        return Truncator(change_set.reason).chars(LIST_TEXT_CHARS) or "—"

    @admin.display(description="rows written")
    def count_summary(self, change_set):
        return rows_written(change_set.counts or {})

    @admin.display(description="undoes")
    def undoes_link(self, change_set):
        return change_set_link(change_set.undoes)

    @admin.display(description="undone by")
    def undone_by_links(self, change_set):
        links = [change_set_link(undo) for undo in change_set.undone_by.all()]
        return format_html(", ".join(["{}"] * len(links)), *links) if links else "—"

    def has_view_permission(self, request, obj=None):
        # Whoever may read the feed may read what each change-set did.
        return request.user.has_perm("doctors.view_activityevent") or (
            super().has_view_permission(request, obj)
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {**(extra_context or {})}
        if object_id and object_id.isdigit():
            extra.update(what_it_did(int(object_id)))
        return super().change_view(request, object_id, form_url, extra)


def what_it_did(change_set_id: int) -> dict:
    """The feed events and history rows of a change-set, first rows of each."""
    events = list(
        ActivityEvent.objects.filter(change_set_id=change_set_id).order_by("pk")[
            :LISTED_ROWS
        ]
    )
    for event in events:
        event.summary = activity.summarize(event)
    sections = []
    for model in (Doctor, Department, Membership):
        rows = model.history.filter(change_set_id=change_set_id).order_by("history_id")
        if model is Membership:
            # Names for the listed rows come with them: no query per row.
            rows = rows.select_related("doctor", "department")
        rows = list(rows[:LISTED_ROWS])
        if rows:
            sections.append(
                {
                    "name": model._meta.verbose_name_plural,
                    "model_name": model._meta.model_name,
                    "rows": [_history_row(model, row) for row in rows],
                    "more": len(rows) == LISTED_ROWS,
                }
            )
    return {
        "events": events,
        "events_more": len(events) == LISTED_ROWS,
        "events_url": reverse("admin:doctors_activityevent_changelist")
        + f"?change_set={change_set_id}",
        "history_sections": sections,
    }


def _history_row(model, row) -> dict:
    if model is Membership:
        text = f"{_name(row, 'doctor')} in {_name(row, 'department')}"
        # The period is what a membership row is: its days come first.
        details = (
            f"{row.get_role_display()}{', primary' if row.is_primary else ''}, "
            f"{periods.describe(row.joined_on, row.left_on)}"
        )
    else:
        text = str(_as_recorded(model, row))
        details = ""
    return {
        "id": row.id,
        "type": row.get_history_type_display(),
        "text": text,
        "details": details,
        "when": row.history_date,
        "url": reverse(f"admin:doctors_{model._meta.model_name}_change", args=[row.id])
        if model is not Membership
        else "",
    }


def _as_recorded(model, row):
    """The record as this history row holds it, built from the row's own
    columns. (`row.instance` would read the fields history leaves out from the
    live table: one query per listed row.)"""
    return model(
        **{
            field.attname: getattr(row, field.attname)
            for field in model._meta.concrete_fields
            if hasattr(row, field.attname)
        }
    )


def _name(row, side: str) -> str:
    try:
        related = getattr(row, side)
    except (Doctor.DoesNotExist, Department.DoesNotExist):
        related = None
    if related is None:
        return f"{side} #{getattr(row, f'{side}_id')} (deleted)"
    return str(related)
