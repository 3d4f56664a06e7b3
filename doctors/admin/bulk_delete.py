"""Deleting selected doctors or departments from their lists.

Django's own bulk delete collects every related row to list it, however many
were selected, and asks for no reason. Here the confirmation page names the
first doctors or departments and counts the rest and the memberships that go
with them (confirm_destroy), takes the reason for the change history, and
deletes only on confirming. A second confirmation of the same selection says
what was already deleted instead of deleting anything.
"""

from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction

from ..models import Department, Doctor, Membership
from .changesets import describe
from .confirm_destroy import LISTED, confirmation_page
from .naming import NAMED_AT_MOST, names_of

# Rows one bulk delete may remove: each is its own delete, feed event and
# history row (with its memberships), and the request must end well within the
# server's timeout.
DELETE_LIMIT = 500


def _memberships_of(queryset):
    side = "doctor" if queryset.model is Doctor else "department"
    return Membership.objects.filter(**{f"{side}__in": queryset.values("pk")})


def _counted(count: int, opts) -> str:
    name = opts.verbose_name if count == 1 else opts.verbose_name_plural
    return f"{count:,} {name}"


def _already_deleted(model_admin, request, found_pks: set[int]) -> list[str]:
    """The names of selected rows that were deleted before this request, from
    their history."""
    selected = {
        int(value)
        for value in request.POST.getlist(ACTION_CHECKBOX_NAME)[: DELETE_LIMIT + 1]
        if value.isdigit()
    }
    missing = selected - found_pks
    if not missing:
        return []
    deleted = model_admin.model.history.filter(
        id__in=missing, history_type="-"
    ).order_by("id", "-history_date")
    names = {}
    for row in deleted:
        names.setdefault(row.id, str(row.instance))
    return sorted(names.values())


def delete_selected(model_admin, request, queryset):
    opts = model_admin.opts
    count = queryset[: DELETE_LIMIT + 1].count()
    if count > DELETE_LIMIT:
        model_admin.message_user(
            request,
            f"Nothing was deleted: select at most {DELETE_LIMIT} "
            f"{opts.verbose_name_plural} at a time (narrow the list with the "
            "search or the filters).",
            messages.ERROR,
        )
        return None
    membership_admin = model_admin.admin_site._registry.get(Membership)
    memberships = _memberships_of(queryset).count() if count else 0
    if memberships and not (
        membership_admin and membership_admin.has_delete_permission(request)
    ):
        model_admin.message_user(
            request,
            f"Nothing was deleted: the selected {opts.verbose_name_plural} have "
            f"{memberships:,} department memberships, and you may not remove "
            "memberships.",
            messages.ERROR,
        )
        return None
    if count and request.POST.get("post") != "yes":
        listed = list(queryset.order_by(*_name_order(queryset.model))[:LISTED])
        what = _counted(count, opts)
        return confirmation_page(
            model_admin,
            request,
            title=f"Delete {opts.verbose_name_plural}",
            question=f"Delete {what}?",
            consequence=(
                f"Their {memberships:,} department "
                f"{'membership goes' if memberships == 1 else 'memberships go'} "
                "with them. The change history keeps what they were, who deleted "
                "them and why."
                if memberships
                else "The change history keeps what they were, who deleted them "
                "and why."
            ),
            names=(_label(obj) for obj in listed),
            total=count,
            listed_heading=f"{opts.verbose_name_plural.capitalize()} to delete",
            confirm_label="Yes, delete them" if count > 1 else "Yes, delete",
            back_url=request.get_full_path(),
            back_label=opts.verbose_name_plural.capitalize(),
        )
    with transaction.atomic():
        # Locked as they are read: a second confirmation sent at the same time
        # waits, then finds them gone and says so.
        deleted = list(
            queryset.select_for_update().order_by(*_name_order(queryset.model))
        )
        if deleted:
            model_admin.log_deletions(request, queryset)
            # After log_deletions, which names it less precisely.
            describe(f"Deleted {_counted(len(deleted), opts)}")
            model_admin.delete_queryset(
                request, queryset.model.objects.filter(pk__in=[o.pk for o in deleted])
            )
    if deleted:
        model_admin.message_user(
            request,
            f"Deleted {_counted(len(deleted), opts)}: {names_of(deleted)}.",
            messages.SUCCESS,
        )
    already = _already_deleted(model_admin, request, {o.pk for o in deleted})
    if already:
        model_admin.message_user(
            request,
            f"Already deleted: {names_of(already, limit=NAMED_AT_MOST)}.",
            messages.WARNING,
        )
    return None


def _name_order(model) -> list[str]:
    if model is Department:
        return ["name", "pk"]
    return ["last_name", "first_name", "pk"]


def _label(obj) -> str:
    if isinstance(obj, Doctor):
        return f"{obj} — {obj.license_number}"
    if isinstance(obj, Department):
        return f"{obj.name} ({obj.code})"
    return str(obj)
