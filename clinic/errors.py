"""The 403, 404 and 500 pages, in the admin's look, each with a way back.

Django's own handlers render 403.html, 404.html and 500.html with a bare
context: no site header, no side menu, no user tools. These handlers give the
403 and 404 pages the admin's context, so a signed-in person keeps the menu
and the links they came with, and the 403 page says what is missing. The 500
page is rendered without the database (it may be the database that failed).
"""

import logging

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponseForbidden,
    HttpResponseNotFound,
    HttpResponseServerError,
)
from django.template import loader
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)

FORBIDDEN_TEMPLATE = "admin/clinic/403.html"
NOT_FOUND_TEMPLATE = "admin/clinic/404.html"
SERVER_ERROR_TEMPLATE = "admin/clinic/500.html"

GENERIC_REFUSAL = "Your account does not have permission to open this page."


def refusal_reason(request: HttpRequest, exception: Exception | None) -> str:
    """What the person lacks, in words: the message the view raised
    (`PermissionDenied("Only managers and superusers see the dashboard.")`),
    else, for an admin page of a model, which records they may not open."""
    if isinstance(exception, PermissionDenied) and exception.args:
        message = str(exception.args[0]).strip()
        if message:
            return message
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return GENERIC_REFUSAL
    model_admin = getattr(match.func, "model_admin", None)
    if model_admin is None:
        return GENERIC_REFUSAL
    opts = model_admin.model._meta
    name = opts.verbose_name_plural
    if match.url_name and match.url_name.endswith("_add"):
        return f"Your account may not add {name}."
    if match.url_name and match.url_name.endswith("_delete"):
        return f"Your account may not delete {name}."
    return f"Your account may not open {name}."


def _admin_context(request: HttpRequest) -> dict:
    """The admin's header, side menu and user tools for this person; an empty
    context if building it fails, so an error page never raises in turn."""
    try:
        return admin.site.each_context(request)
    except Exception:
        logger.exception("The admin context for an error page could not be built")
        return {"site_header": admin.site.site_header}


@requires_csrf_token
def permission_denied(
    request: HttpRequest, exception: Exception
) -> HttpResponseForbidden:
    context = {
        **_admin_context(request),
        "title": "Access denied",
        "reason": refusal_reason(request, exception),
    }
    body = loader.render_to_string(FORBIDDEN_TEMPLATE, context, request)
    return HttpResponseForbidden(body)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponseNotFound:
    context = {
        **_admin_context(request),
        "title": "Page not found",
        "request_path": request.path,
    }
    body = loader.render_to_string(NOT_FOUND_TEMPLATE, context, request)
    return HttpResponseNotFound(body)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponseServerError:
    # No request context: its processors (the user, messages) may need the
    # database, and the failure may be the database.
    body = loader.render_to_string(
        SERVER_ERROR_TEMPLATE,
        {"title": "Something went wrong", "site_header": admin.site.site_header},
    )
    return HttpResponseServerError(body)
