"""Login throttling glue, the session idle timeout and the project's own
deployment checks.

django-axes counts failed logins per (username, client address) in the database;
this module tells it where the client address comes from and adds one check that
`manage.py check --deploy` reports.
"""

import logging
import time

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_logged_in
from django.core import checks
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

logger = logging.getLogger(__name__)

LOCKOUT_TEMPLATE = "admin/clinic/lockout.html"


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses logins for a locked-out (username, address) pair.

    A login through a web form always carries its request. `authenticate()`
    called from code without one (a shell, a management command) has no client
    address to throttle, so it is left to the next backend instead of failing.
    """

    def authenticate(self, request: HttpRequest | None, *args, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def client_ip_address(request: HttpRequest) -> str | None:
    """The address a login attempt came from, as far as it can be trusted.

    Behind a TLS proxy (BEHIND_TLS_PROXY) the peer is the proxy: the client is
    the address the last TRUSTED_PROXY_COUNT proxies appended to X-Forwarded-For.
    Entries further left were written by the client and could be forged.
    """
    remote_addr = request.META.get("REMOTE_ADDR")
    if not settings.BEHIND_TLS_PROXY:
        return remote_addr
    forwarded = [
        entry.strip()
        for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if entry.strip()
    ]
    count = settings.TRUSTED_PROXY_COUNT
    if count < 1 or len(forwarded) < count:
        return remote_addr
    return forwarded[-count]


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """The page a locked-out login gets (HTTP 429), and a log line naming it.

    django-axes calls this for every attempt while the lockout lasts; its own
    log already has the lockout itself.
    """
    username = get_client_username(request, credentials) or ""
    logger.warning(
        "Login refused: username %r from %s is locked out after %d failed "
        "attempts (unlock: manage.py axes_reset_username %s)",
        username,
        client_ip_address(request),
        settings.AXES_FAILURE_LIMIT,
        username,
    )
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    response = TemplateResponse(request, LOCKOUT_TEMPLATE, context, status=429)
    return response.render()


INSECURE_LOCAL_SERVING = checks.Warning(
    "SERVE_INSECURE_LOCAL is on: session and CSRF cookies are sent over plain HTTP "
    "and HTTPS is not enforced.",
    hint=(
        "It exists only for `make serve` on loopback. Unset it in production and "
        "serve through HTTPS (BEHIND_TLS_PROXY=true behind a TLS proxy)."
    ),
    id="clinic.W001",
)


@checks.register(checks.Tags.security, deploy=True)
def check_insecure_local_serving(app_configs, **kwargs):
    return [INSECURE_LOCAL_SERVING] if settings.SERVE_INSECURE_LOCAL else []


# --- Session idle timeout ----------------------------------------------------------

SESSION_RENEWED_AT = "_clinic_renewed_at"
MAX_SESSION_RENEW_SECONDS = 300


def session_renew_seconds() -> int:
    """How often an active session's expiry is pushed back: a tenth of the idle
    timeout, at most five minutes."""
    return max(1, min(MAX_SESSION_RENEW_SECONDS, settings.SESSION_COOKIE_AGE // 10))


@receiver(user_logged_in, dispatch_uid="clinic.security.session_renewed_at_login")
def session_renewed_at_login(sender, request, user, **kwargs):
    """Logging in saves the session with a fresh expiry: the next request need not."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_RENEWED_AT] = int(time.time())


class SessionIdleTimeoutMiddleware:
    """A logged-in session ends after SESSION_COOKIE_AGE seconds without a request.

    Django sets a session's expiry (in the database and on the cookie) only when
    it saves the session. Saving it on every request (SESSION_SAVE_EVERY_REQUEST)
    would write the session row for every page and every chart the admin loads,
    and make parallel requests of one user queue on that row. This renews the
    expiry at most once per `session_renew_seconds()`: a session idle for the
    timeout minus that interval may end, one idle for the timeout always has.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = request.session
        if SESSION_KEY in session:
            now = int(time.time())
            if now - session.get(SESSION_RENEWED_AT, 0) >= session_renew_seconds():
                session[SESSION_RENEWED_AT] = now  # saved with a new expiry
        return self.get_response(request)
