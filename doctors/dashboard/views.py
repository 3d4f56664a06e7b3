"""The manager dashboard page and the feed export, served inside the admin.

ClinicAdminSite routes /admin/dashboard/ and /admin/dashboard/feed.csv here
through `admin_view`, which sends anonymous users to the login page; these
views then allow only users with doctors.view_dashboard (superusers have it).
"""

from functools import partial

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from . import blocks, charts
from .caching import BlockCache
from .feed_csv import feed_csv_response
from .filters import DEFAULT_PERIOD, DashboardFilterForm

PERMISSION = "doctors.view_dashboard"
PAGE_BLOCKS = {
    "figures": blocks.figures,
    "per_department": blocks.doctors_per_department,
    "per_day": blocks.changes_per_day,
    "recent_activity": blocks.recent_activity,
    "top_editors": blocks.top_editors,
    "recent_imports": blocks.recent_imports,
}


def can_view_dashboard(user) -> bool:
    return user.is_active and user.is_staff and user.has_perm(PERMISSION)


def _filter_form(request, block_cache: BlockCache) -> DashboardFilterForm:
    departments = block_cache.fetch({"departments": blocks.department_choices}, "all")
    data = request.GET.copy()
    if not data.get("period"):
        data["period"] = DEFAULT_PERIOD
    return DashboardFilterForm(data, departments=departments["departments"])


def dashboard(request, admin_site):
    if not can_view_dashboard(request.user):
        raise PermissionDenied
    block_cache = BlockCache()
    form = _filter_form(request, block_cache)
    context = {
        **admin_site.each_context(request),
        "title": "Manager dashboard",
        "form": form,
        "cache_available": block_cache.available,
    }
    if not form.is_valid():
        return TemplateResponse(
            request, "admin/doctors/dashboard.html", context, status=400
        )
    filters = form.filters()
    data = block_cache.fetch(
        {name: partial(compute, filters) for name, compute in PAGE_BLOCKS.items()},
        filters.cache_key(),
    )
    context.update(
        data,
        filters=filters,
        subtitle=filters.description,
        department_chart=charts.department_chart(
            data["per_department"], selected_id=filters.department_id
        ),
        daily_chart=charts.daily_chart(data["per_day"]),
        series=charts.SERIES,
        export_url=reverse("admin:dashboard_feed_export")
        + "?"
        + filters.query_string(),
    )
    return TemplateResponse(request, "admin/doctors/dashboard.html", context)


def feed_export(request, admin_site):
    if not can_view_dashboard(request.user):
        raise PermissionDenied
    form = DashboardFilterForm(request.GET, departments=blocks.department_choices(None))
    if not form.is_valid():
        return HttpResponse(
            "The feed export was not made; fix these filters:\n"
            + form.error_summary()
            + "\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return feed_csv_response(form.filters())
