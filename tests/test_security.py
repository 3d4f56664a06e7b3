"""Security: response headers, cookies, login throttling, and no secret in the
feed, the history or the logs."""

import datetime
import logging
import secrets

import pytest
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.security import SESSION_RENEWED_AT, client_ip_address
from doctors.models import ActivityEvent
from tests.factories import UserFactory
from tests.test_settings import manage

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("admin:login")
PASSWORD = "correct horse battery staple"
WRONG_PASSWORD = "wrong-Pa55word-that-must-never-be-logged"
ADDRESS = "198.51.100.7"
OTHER_ADDRESS = "203.0.113.9"


@pytest.fixture
def account(db):
    user = UserFactory(username="nurse-admin", is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def attempt_login(client, username, password, address=ADDRESS):
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
        secure=True,
    )


def fail_logins(client, username, times, address=ADDRESS):
    return [
        attempt_login(client, username, WRONG_PASSWORD, address) for _ in range(times)
    ]


# --- Headers and cookies ---------------------------------------------------------


def test_admin_pages_carry_a_strict_content_security_policy(client, superuser):
    """CSP allows scripts and styles from this site only: never unsafe-inline."""
    client.force_login(superuser)
    response = client.get(reverse("admin:doctors_doctor_changelist"), secure=True)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    directives = {
        part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()
    }
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"][0] == "'self'"
    assert directives["style-src"][0] == "'self'"
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert "*" not in policy


def test_a_page_nonce_is_fresh_for_every_response(client):
    """An inline block marked with a nonce is allowed once: each response differs."""
    first = client.get(LOGIN_URL, secure=True)["Content-Security-Policy"]
    second = client.get(LOGIN_URL, secure=True)["Content-Security-Policy"]
    assert "'nonce-" in first
    assert first != second


def test_security_headers_on_https_responses(client):
    """HSTS, frame denial, no MIME sniffing and a same-origin referrer policy."""
    response = client.get(LOGIN_URL, secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "includeSubDomains" in response["Strict-Transport-Security"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_session_and_csrf_cookies_are_secure_and_http_only(client, account):
    """Neither cookie travels over plain HTTP or is readable from a script."""
    client.get(LOGIN_URL, secure=True)
    csrf = client.cookies[settings.CSRF_COOKIE_NAME]
    response = attempt_login(client, account.username, PASSWORD)
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    for cookie in (session, csrf):
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"


def test_weak_passwords_are_refused():
    """The password validators reject short, common and all-digit passwords."""
    for weak in ["short1", "password123", "1234567890123"]:
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("a much longer and unusual passphrase 42")


# --- Login throttling --------------------------------------------------------------


def test_four_failures_still_show_the_login_form(client, account):
    """Below the limit a wrong password gets the ordinary error, not a lockout."""
    responses = fail_logins(client, account.username, 4)
    assert [r.status_code for r in responses] == [200] * 4
    assert "Please enter the correct username and password" in responses[-1].text
    assert attempt_login(client, account.username, PASSWORD).status_code == 302


def test_fifth_failure_locks_the_username_out_from_that_address(client, account):
    """After 5 failures even the right password is refused with a clear page."""
    responses = fail_logins(client, account.username, 5)
    assert responses[-1].status_code == 429
    response = attempt_login(client, account.username, PASSWORD)
    assert response.status_code == 429
    assert "Login blocked: 5 failed attempts" in response.text
    assert "try again in 30 minutes" in response.text
    assert "ask an administrator to unlock" in response.text
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username_and_address(client, account):
    """Another address, or another username, is not locked out by them."""
    other = UserFactory(username="other-admin", is_superuser=True)
    other.set_password(PASSWORD)
    other.save()
    fail_logins(client, account.username, 5)
    assert attempt_login(client, other.username, PASSWORD).status_code == 302
    client.logout()
    response = attempt_login(client, account.username, PASSWORD, OTHER_ADDRESS)
    assert response.status_code == 302


# The wider limits: one account guessed from many addresses, many accounts
# guessed from one address. 40 of each, twice the default limit of 20.
OFFICE = "203.0.113.50"  # where the account's owner has logged in before
MANY_ADDRESSES = [f"192.0.2.{n}" for n in range(1, 41)]
MANY_USERNAMES = [f"guess-{n}" for n in range(1, 41)]
WIDE_LIMIT = 20


def log_in_once_from(client, account, address):
    assert attempt_login(client, account.username, PASSWORD, address).status_code == 302
    client.logout()


def forget_minutes(minutes):
    """The recorded failures happened `minutes` earlier."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - datetime.timedelta(minutes=minutes)
    )


def test_one_account_guessed_from_40_addresses_is_refused_after_20(client, account):
    log_in_once_from(client, account, OFFICE)
    statuses = [
        attempt_login(client, account.username, WRONG_PASSWORD, address).status_code
        for address in MANY_ADDRESSES
    ]
    assert statuses == [200] * (WIDE_LIMIT - 1) + [429] * (41 - WIDE_LIMIT)
    # Even the right password from yet another address is refused, briefly.
    response = attempt_login(client, account.username, PASSWORD, "192.0.2.200")
    assert response.status_code == 429
    assert "20 failed attempts for this username from several addresses" in (
        response.text
    )
    assert "try again in 10 minutes" in response.text
    # The owner, from where they have logged in before, is not locked out.
    assert attempt_login(client, account.username, PASSWORD, OFFICE).status_code == 302
    client.logout()
    # Ten minutes without failures lift the block everywhere.
    forget_minutes(11)
    response = attempt_login(client, account.username, PASSWORD, "192.0.2.200")
    assert response.status_code == 302


def test_40_accounts_guessed_from_one_address_are_refused_after_20(client, account):
    attacker = "198.51.100.66"
    colleague = UserFactory(username="colleague", is_superuser=True)
    colleague.set_password(PASSWORD)
    colleague.save()
    log_in_once_from(client, colleague, attacker)  # a shared address (NAT)
    statuses = [
        attempt_login(client, username, WRONG_PASSWORD, attacker).status_code
        for username in MANY_USERNAMES
    ]
    assert statuses == [200] * (WIDE_LIMIT - 1) + [429] * (41 - WIDE_LIMIT)
    response = attempt_login(client, account.username, PASSWORD, attacker)
    assert response.status_code == 429
    assert "20 failed attempts from your address for several usernames" in (
        response.text
    )
    # Other addresses are not affected, nor who logs in from there as usual.
    assert attempt_login(client, account.username, PASSWORD).status_code == 302
    client.logout()
    assert attempt_login(
        client, colleague.username, PASSWORD, attacker
    ).status_code == (302)
    client.logout()
    forget_minutes(11)
    assert attempt_login(client, account.username, PASSWORD, attacker).status_code == (
        302
    )


def test_the_wider_blocks_are_logged_with_how_to_unlock(client, account, caplog):
    attacker = "198.51.100.66"
    with caplog.at_level(logging.WARNING):
        for username in MANY_USERNAMES[:WIDE_LIMIT]:
            attempt_login(client, username, WRONG_PASSWORD, attacker)
        attempt_login(client, account.username, PASSWORD, attacker)
    assert (
        f"Login refused: username '{account.username}' from {attacker} is locked out "
        "after 20 failed attempts from that address for any username "
        f"(unlock: manage.py axes_reset_ip {attacker})"
    ) in caplog.text


def test_the_wider_blocks_are_lifted_by_the_documented_commands(client, account):
    attacker = "198.51.100.66"
    for username in MANY_USERNAMES[:WIDE_LIMIT]:
        attempt_login(client, username, WRONG_PASSWORD, attacker)
    assert attempt_login(client, account.username, PASSWORD, attacker).status_code == (
        429
    )
    call_command("axes_reset_ip", attacker)
    assert attempt_login(client, account.username, PASSWORD, attacker).status_code == (
        302
    )
    client.logout()
    for address in MANY_ADDRESSES[:WIDE_LIMIT]:
        attempt_login(client, account.username, WRONG_PASSWORD, address)
    assert attempt_login(client, account.username, PASSWORD).status_code == 429
    call_command("axes_reset_username", account.username)
    assert attempt_login(client, account.username, PASSWORD).status_code == 302


def test_axes_reset_username_unlocks(client, account):
    """The documented unlock command lets the user in again at once."""
    fail_logins(client, account.username, 5)
    assert attempt_login(client, account.username, PASSWORD).status_code == 429
    call_command("axes_reset_username", account.username)
    assert attempt_login(client, account.username, PASSWORD).status_code == 302


def test_lockout_is_logged_without_the_password(client, account, caplog):
    """The log names the username and address; no password appears anywhere."""
    with caplog.at_level(logging.DEBUG):
        fail_logins(client, account.username, 5)
        attempt_login(client, account.username, PASSWORD)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Locking out" in text
    assert f"Login refused: username '{account.username}' from {ADDRESS}" in text
    assert f"axes_reset_username {account.username}" in text
    assert WRONG_PASSWORD not in text
    assert PASSWORD not in text


def test_login_attempts_are_stored_without_the_password(client, account):
    """The attempt rows keep the masked form data, never the password."""
    fail_logins(client, account.username, 2)
    attempt = AccessAttempt.objects.get(username=account.username)
    assert attempt.failures_since_start == 2
    assert attempt.ip_address == ADDRESS
    stored = " ".join(
        f"{row.get_data} {row.post_data}" for row in AccessAttempt.objects.all()
    )
    stored += " ".join(
        f"{row.user_agent} {row.http_accept}" for row in AccessLog.objects.all()
    )
    assert WRONG_PASSWORD not in stored
    assert "********" in attempt.post_data


def test_authenticate_from_code_is_not_throttled(account):
    """A shell or command has no client address: it authenticates normally."""
    from django.contrib.auth import authenticate

    assert authenticate(username=account.username, password=PASSWORD) == account


# --- Client address behind a proxy ---------------------------------------------


def make_request(**meta):
    return RequestFactory().post(LOGIN_URL, **meta)


def test_client_address_is_the_peer_without_a_proxy():
    """A forged X-Forwarded-For is ignored unless the app sits behind a proxy."""
    request = make_request(REMOTE_ADDR=ADDRESS, HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip_address(request) == ADDRESS


@override_settings(BEHIND_TLS_PROXY=True, TRUSTED_PROXY_COUNT=1)
def test_client_address_behind_a_proxy_is_what_the_proxy_appended():
    """Only the right-most entry, written by the trusted proxy, is believed."""
    request = make_request(
        REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"1.2.3.4, {ADDRESS}"
    )
    assert client_ip_address(request) == ADDRESS
    assert client_ip_address(make_request(REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"


# --- Secrets stay out of the feed and the history ----------------------------------


def test_user_accounts_are_not_tracked_by_feed_or_history(client, superuser):
    """Creating a user and changing a password leaves no feed event or history."""
    client.force_login(superuser)
    secret = "Another-long-secret-passphrase-91"
    response = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "new-clerk",
            "password1": secret,
            "password2": secret,
            "usable_password": "true",
        },
        secure=True,
    )
    assert response.status_code == 302, response.content
    clerk = get_user_model().objects.get(username="new-clerk")
    response = client.post(
        reverse("admin:auth_user_password_change", args=[clerk.pk]),
        {"password1": secret + "x", "password2": secret + "x"},
        secure=True,
    )
    assert response.status_code == 302
    assert ActivityEvent.objects.count() == 0
    assert not hasattr(get_user_model(), "history")


def test_tracked_models_hold_no_secret_fields():
    """The feed and the history follow doctors, departments and memberships only,
    none of which has a password, token or secret field."""
    from doctors.signals import TRACKED

    assert get_user_model() not in TRACKED
    for model in TRACKED:
        history_fields = {f.name for f in model.history.model._meta.fields}
        names = {f.name for f in model._meta.fields} | history_fields
        secretive = {
            n for n in names if any(w in n for w in ("password", "token", "secret"))
        }
        assert not secretive, model


# --- The loopback-only switch of `make serve` -----------------------------------


def test_insecure_local_serving_is_flagged_by_the_deploy_check():
    """`check --deploy` warns (clinic.W001) whenever SERVE_INSECURE_LOCAL is on."""
    result = manage(
        "check",
        "--deploy",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SERVE_INSECURE_LOCAL="true",
    )
    assert "clinic.W001" in result.stdout + result.stderr


def test_insecure_local_serving_refuses_non_loopback_hosts():
    """Plain-HTTP serving cannot be pointed at a real host name."""
    result = manage(
        "check",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SERVE_INSECURE_LOCAL="true",
        ALLOWED_HOSTS="clinic.example.org",
    )
    assert result.returncode != 0
    assert "SERVE_INSECURE_LOCAL=true serves plain HTTP" in result.stderr


# --- Sessions: idle timeout, optional logout on browser close -----------------------

WORKING_DAY = datetime.timedelta(hours=8)
ADMIN_INDEX = reverse("admin:index")


def session_row(client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


def expires_in(client) -> datetime.timedelta:
    return session_row(client).expire_date - timezone.now()


def test_a_session_lasts_a_working_day_not_two_weeks(client, account):
    """Logging in sets an eight-hour expiry on the server and on the cookie."""
    response = attempt_login(client, account.username, PASSWORD)
    assert response.status_code == 302
    assert settings.SESSION_COOKIE_AGE == WORKING_DAY.total_seconds()
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == int(WORKING_DAY.total_seconds())
    assert WORKING_DAY - datetime.timedelta(minutes=1) < expires_in(client)
    assert expires_in(client) <= WORKING_DAY


def test_an_idle_session_ends_and_asks_for_the_login_again(client, account):
    attempt_login(client, account.username, PASSWORD)
    assert client.get(ADMIN_INDEX, secure=True).status_code == 200
    Session.objects.update(expire_date=timezone.now() - datetime.timedelta(seconds=1))
    response = client.get(ADMIN_INDEX, secure=True)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


def test_working_pushes_the_idle_timeout_back_without_a_write_per_request(
    client, account
):
    """Requests renew the expiry, at most once per renewal interval (5 minutes)."""
    attempt_login(client, account.username, PASSWORD)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ADMIN_INDEX, secure=True).status_code == 200
    assert not [
        q for q in queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]
    ]

    # Six minutes later, with ten minutes of the session left: a request renews it.
    session = client.session
    session[SESSION_RENEWED_AT] -= 6 * 60
    session.save()
    Session.objects.update(expire_date=timezone.now() + datetime.timedelta(minutes=10))
    assert client.get(ADMIN_INDEX, secure=True).status_code == 200
    assert expires_in(client) > WORKING_DAY - datetime.timedelta(minutes=1)


def test_logout_on_browser_close_is_an_option(client, account, settings):
    """The cookie then lasts only as long as the browser; the idle timeout stays."""
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    response = attempt_login(client, account.username, PASSWORD)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == "" and cookie["expires"] == ""
    assert WORKING_DAY - datetime.timedelta(minutes=1) < expires_in(client)
    assert expires_in(client) <= WORKING_DAY


def test_session_settings_come_from_the_environment():
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; "
        "print(settings.SESSION_COOKIE_AGE, settings.SESSION_EXPIRE_AT_BROWSER_CLOSE)",
        DEBUG="true",
        SESSION_IDLE_MINUTES="90",
        SESSION_EXPIRE_AT_BROWSER_CLOSE="true",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["5400", "True"]
