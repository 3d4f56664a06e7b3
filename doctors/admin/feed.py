from django.contrib import admin
from django.db.models import (
    Case,
    Exists,
    OuterRef,
    Value,
    When,
)
from django.urls import reverse
from django.utils.html import format_html

from .. import activity
from ..models import ActivityEvent, Department, Doctor
from .changesets import ChangeSetFilter, change_set_id_link
from .readonly import ReadOnlyAdminMixin


@admin.register(ActivityEvent)
class ActivityEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The feed: read-only for everyone, superusers included."""

    list_display = [
        "occurred_at",
        "actor_name",
        "source",
        "verb",
        "target_link",
        "department_text",
        "summary",
        "change_set_column",
    ]
    list_filter = [
        ChangeSetFilter,
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

    @admin.display(description="change-set", ordering="change_set")
    def change_set_column(self, event):
        return change_set_id_link(event.change_set_id)
