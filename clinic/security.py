"""Login throttling, the session idle timeout and the project's own deployment
checks.

django-axes records failed logins per (username, client address) in the database
and locks a pair out after LOGIN_FAILURE_LIMIT failures. This module tells it
where the client address comes from, adds two wider limits on the same records
(one username from many addresses, many usernames from one address), and adds one
check that `manage.py check --deploy` reports.
"""

import datetime
import logging
import time
from dataclasses import dataclass

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_logged_in
from django.core import checks
from django.db.models import Sum
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

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


@dataclass(frozen=True)
class LoginBlock:
    """Why a login is refused: which limit, how many failures, for how long."""

    scope: str  # "pair", "username" or "address"
    limit: int
    minutes: int


def _failures(attempts) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def has_logged_in_from(username: str, address: str) -> bool:
    """Has `username` logged in successfully from `address` lately?"""
    since = timezone.now() - datetime.timedelta(days=settings.LOGIN_KNOWN_ADDRESS_DAYS)
    return AccessLog.objects.filter(
        username=username, ip_address=address, attempt_time__gte=since
    ).exists()


def wide_login_block(username: str | None, address: str | None) -> LoginBlock | None:
    """The wider limits: one username guessed from many addresses, or many
    usernames guessed from one address.

    Failures count while their (username, address) record saw a failure in the
    last LOGIN_WIDE_LOCKOUT_MINUTES, so the block lifts that long after the
    guessing stops. Neither limit refuses a username at an address it has
    logged in from lately (LOGIN_KNOWN_ADDRESS_DAYS): a stranger guessing
    cannot lock staff out of the place they work from; only the pair limit
    applies there.
    """
    minutes = settings.LOGIN_WIDE_LOCKOUT_MINUTES
    recent = AccessAttempt.objects.filter(
        attempt_time__gte=timezone.now() - datetime.timedelta(minutes=minutes)
    )
    block = None
    if username and (
        _failures(recent.filter(username=username))
        >= settings.LOGIN_USERNAME_FAILURE_LIMIT
    ):
        block = LoginBlock("username", settings.LOGIN_USERNAME_FAILURE_LIMIT, minutes)
    elif address and (
        _failures(recent.filter(ip_address=address))
        >= settings.LOGIN_ADDRESS_FAILURE_LIMIT
    ):
        block = LoginBlock("address", settings.LOGIN_ADDRESS_FAILURE_LIMIT, minutes)
    if block and username and address and has_logged_in_from(username, address):
        return None
    return block


class LoginThrottleHandler(AxesDatabaseHandler):
    """django-axes' database handler, with the wider limits on top of its own.

    axes refuses a login, and locks one out after a failure, when the failures
    this handler reports reach AXES_FAILURE_LIMIT. The pair's own count is
    reported as axes counts it; when a wider limit applies (wide_login_block),
    the report is at least the limit, so axes refuses and logs the lockout the
    same way, and lockout_response says which limit it was.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        failures = super().get_failures(request, credentials)
        if failures >= settings.AXES_FAILURE_LIMIT:
            return failures
        username = get_client_username(request, credentials)
        if wide_login_block(username, getattr(request, "axes_ip_address", None)):
            return settings.AXES_FAILURE_LIMIT
        return failures


def login_block(request: HttpRequest, credentials: dict | None = None) -> LoginBlock:
    """Which limit refuses this login (the pair's own, unless a wider one)."""
    username = get_client_username(request, credentials)
    address = getattr(request, "axes_ip_address", None) or client_ip_address(request)
    pair = AccessAttempt.objects.filter(
        username=username,
        ip_address=address,
        attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME,
    )
    if _failures(pair) < settings.AXES_FAILURE_LIMIT:
        wide = wide_login_block(username, address)
        if wide is not None:
            return wide
    cooloff_minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return LoginBlock("pair", settings.AXES_FAILURE_LIMIT, cooloff_minutes)


UNLOCK_HINTS = {
    "pair": "manage.py axes_reset_username {username}",
    "username": "manage.py axes_reset_username {username}",
    "address": "manage.py axes_reset_ip {address}",
}


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
    address = client_ip_address(request)
    block = login_block(request, credentials)
    logger.warning(
        "Login refused: username %r from %s is locked out after %d failed "
        "attempts %s (unlock: %s)",
        username,
        address,
        block.limit,
        {
            "pair": "for that username from that address",
            "username": "for that username from any address",
            "address": "from that address for any username",
        }[block.scope],
        UNLOCK_HINTS[block.scope].format(username=username, address=address),
    )
    context = {
        "scope": block.scope,
        "failure_limit": block.limit,
        "cooloff_minutes": block.minutes,
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
