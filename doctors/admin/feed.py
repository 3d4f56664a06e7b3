from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html

from .. import activity
from ..models import ActivityEvent, Department, Doctor
from .changesets import ChangeSetFilter, change_set_id_link
from .readonly import ReadOnlyAdminMixin
from .search import TrigramSearchMixin

SUMMARY_IN_LIST = 90


def mark_existing_targets(events) -> None:
    """Set `target_exists` on each event: whether its doctor or department is
    still there (one query per target type for a page of events)."""
    for target_type, model in (("doctor", Doctor), ("department", Department)):
        ids = {e.target_id for e in events if e.target_type == target_type}
        existing = (
            set(model.objects.filter(pk__in=ids).values_list("pk", flat=True))
            if ids
            else set()
        )
        for event in events:
            if event.target_type == target_type:
                event.target_exists = event.target_id in existing
    for event in events:
        if not hasattr(event, "target_exists"):
            event.target_exists = False


class ActorListFilter(admin.SimpleListFilter):
    """The users who made changes. Django's RelatedOnlyFieldListFilter reads
    the actor of every event on each view; here each user is looked up once in
    the actor index. The parameter keeps Django's name."""

    title = "person"
    parameter_name = "actor__id__exact"

    def lookups(self, request, model_admin):
        actors = (
            get_user_model()
            .objects.filter(Exists(ActivityEvent.objects.filter(actor=OuterRef("pk"))))
            .order_by("username")
        )
        return [(user.pk, str(user)) for user in actors]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            return queryset.filter(actor_id=int(self.value()))
        except ValueError:
            return queryset.none()


class WhatHappenedFilter(admin.ChoicesFieldListFilter):
    """The verb's choices, headed in words rather than by the field's name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "what happened"


class FeedChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # Only the page's events are looked up: an EXISTS in the list's query
        # made PostgreSQL hash every doctor's id on each view.
        mark_existing_targets(self.result_list)


@admin.register(ActivityEvent)
class ActivityEventAdmin(ReadOnlyAdminMixin, TrigramSearchMixin, admin.ModelAdmin):
    """The feed: read-only for everyone, superusers included."""

    # What a person scans a feed for; the source and the department (also in
    # the summary) are on each event's page.
    list_display = [
        "occurred_at",
        "actor_column",
        "what_happened",
        "target_link",
        "summary",
        "change_set_column",
    ]
    # The change-set and the one it reverses tell a redo from an undo.
    list_select_related = ["change_set__undoes"]
    list_filter = [
        ChangeSetFilter,
        ("verb", WhatHappenedFilter),
        "source",
        ActorListFilter,
        "occurred_at",
    ]
    search_fields = ["target_text", "department_text", "actor_name"]
    search_index = ("doctors_activityevent_fts", "pk")
    # No date_hierarchy: its year and month links read every event's date on
    # each view (a scan of the whole feed); the "occurred at" filter offers
    # today, the past 7 days, this month and this year instead.
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "occurred_at",
        "actor_column",
        "source",
        "what_happened",
        "target_link",
        "department_column",
        "full_summary",
        "change_set_column",
    ]
    readonly_fields = fields

    def get_changelist(self, request, **kwargs):
        return FeedChangeList

    def get_ordering(self, request):
        # Searching: newest first among what the trigram indexes found. Ordered
        # by the plain column, PostgreSQL would rather walk the time index and
        # test each event until a page of matches, which for a name found in
        # one event in a hundred reads thousands of rows.
        if len(request.GET.get("q", "").strip()) >= 3:
            newest = Coalesce("occurred_at", "occurred_at")
            return [newest.desc(), "-id"]
        return super().get_ordering(request)

    @admin.display(description="who", ordering="actor_name")
    def actor_column(self, event):
        return event.actor_name or "—"

    @admin.display(description="what happened", ordering="verb")
    def what_happened(self, event):
        return activity.verb_label(event)

    @admin.display(description="department")
    def department_column(self, event):
        return event.department_text or "—"

    @admin.display(description="doctor or department", ordering="target_text")
    def target_link(self, event):
        exists = getattr(event, "target_exists", None)
        if exists is None and event.target_id:
            mark_existing_targets([event])
            exists = event.target_exists
        if event.target_id and exists:
            url = reverse(
                f"admin:doctors_{event.target_type}_change", args=[event.target_id]
            )
            return format_html('<a href="{}">{}</a>', url, event.target_text)
        return event.target_text

    @admin.display(description="what changed")
    def summary(self, event):
        # Cut so an import's row stays a line or two; the event's page has it all.
        return activity.summarize(event, limit=SUMMARY_IN_LIST)

    @admin.display(description="what changed")
    def full_summary(self, event):
        return activity.summarize(event, limit=10_000) or "—"

    @admin.display(description="change-set", ordering="change_set")
    def change_set_column(self, event):
        return change_set_id_link(event.change_set_id)
