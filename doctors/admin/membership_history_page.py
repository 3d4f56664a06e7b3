"""The History page of a doctor or a department also lists its membership
changes, from the feed."""

from django.core.paginator import Paginator
from django.db.models import Q

from .. import activity
from ..models import ActivityEvent, Doctor
from .changesets import chosen_change_set


class MembershipHistoryMixin:
    """The History page also lists the object's membership changes, from the
    feed, a page at a time (an object may have a hundred thousand)."""

    object_history_template = "admin/doctors/object_history.html"
    membership_history_per_page = 100
    membership_page_var = "events_page"

    def history_view(self, request, object_id, extra_context=None):
        if self.model is Doctor:
            about = Q(target_type="doctor", target_id=object_id)
        else:
            about = Q(department_id=object_id)
        events = ActivityEvent.objects.filter(about, verb__startswith="membership_")
        change_set_id = chosen_change_set(request)
        if change_set_id is not None:
            events = events.filter(change_set_id=change_set_id)
        events = events.order_by("-occurred_at", "-id")
        paginator = Paginator(events, self.membership_history_per_page)
        page = paginator.get_page(request.GET.get(self.membership_page_var))
        for event in page.object_list:
            event.verb_text = activity.verb_label(event)
            event.details = activity.describe_membership_change(event)
        return super().history_view(
            request,
            object_id,
            extra_context={
                **(extra_context or {}),
                "membership_events": page.object_list,
                "change_set_id": change_set_id,
                "membership_page": page,
                "membership_page_range": paginator.get_elided_page_range(page.number),
                "membership_page_var": self.membership_page_var,
            },
        )
