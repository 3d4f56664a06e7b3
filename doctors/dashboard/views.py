"""The manager dashboard page and the feed export, served inside the admin.

ClinicAdminSite routes /admin/dashboard/ and /admin/dashboard/feed.csv here
through `admin_view`, which sends anonymous users to the login page; these
views then allow only users with doctors.view_dashboard (superusers have it).
"""

from functools import partial

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, QueryDict
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from . import blocks, charts
from .caching import BlockCache
from .feed_csv import feed_csv_response
from .filters import DEFAULT_PERIOD, DashboardFilterForm, DashboardFilters

PERMISSION = "doctors.view_dashboard"
REFUSAL = "Only managers and superusers see the dashboard."
# Block name -> the function computing its data. Each block is cached as HTML
# rendered from templates/admin/doctors/dashboard/<name>.html: a warm view then
# renders only the admin around it (rendering the tables and charts costs more
# than fetching them).
PAGE_BLOCKS = {
    "figures": blocks.figures,
    "per_department": blocks.doctors_per_department,
    "per_day": blocks.changes_per_day,
    "recent_activity": blocks.recent_activity,
    "top_editors": blocks.top_editors,
    "recent_imports": blocks.recent_imports,
}


def render_filter_form(filters: DashboardFilters, departments: list[tuple]) -> str:
    """The filter form showing the filters in force (so it can be cached)."""
    form = DashboardFilterForm(
        QueryDict(filters.query_string()), departments=departments
    )
    form.is_valid()
    return render_to_string(
        "admin/doctors/dashboard/filter_form.html",
        {"form": form, "export_url": export_url(filters)},
    )


def export_url(filters: DashboardFilters) -> str:
    return reverse("admin:dashboard_feed_export") + "?" + filters.query_string()


def render_block(name: str, filters: DashboardFilters) -> str:
    data = PAGE_BLOCKS[name](filters)
    if name == "per_department":
        context = {
            "chart": charts.department_chart(data, selected_id=filters.department_id)
        }
    elif name == "per_day":
        context = {
            "chart": charts.daily_chart(data),
            "rows": [
                (day["day"], [day[key] for key, _name in charts.SERIES]) for day in data
            ],
            "series": charts.SERIES,
        }
    else:
        context = {name: data}
    return render_to_string(f"admin/doctors/dashboard/{name}.html", context)


def can_view_dashboard(user) -> bool:
    return user.is_active and user.is_staff and user.has_perm(PERMISSION)


def dashboard(request, admin_site):
    if not can_view_dashboard(request.user):
        raise PermissionDenied(REFUSAL)
    block_cache = BlockCache()
    departments = block_cache.fetch({"departments": blocks.department_choices}, "all")[
        "departments"
    ]
    data = request.GET.copy()
    if not data.get("period"):
        data["period"] = DEFAULT_PERIOD
    form = DashboardFilterForm(data, departments=departments)
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
    computations = {name: partial(render_block, name, filters) for name in PAGE_BLOCKS}
    computations["filter_form"] = partial(render_filter_form, filters, departments)
    rendered = block_cache.fetch(computations, filters.cache_key())
    context.update(
        # Rendered by the project's own templates, with autoescaping.
        blocks={name: mark_safe(html) for name, html in rendered.items()},  # noqa: S308
        filters=filters,
        subtitle=filters.description,
    )
    return TemplateResponse(request, "admin/doctors/dashboard.html", context)


def feed_export(request, admin_site):
    if not can_view_dashboard(request.user):
        raise PermissionDenied(REFUSAL)
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
