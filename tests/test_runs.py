"""The run service (doctors/runs/): a confirm, an undo, a redo or a revert
submitted twice, one after the other or at the same moment, changes the data
once, and the second submission is told what became of the first.

The concurrent cases run two real requests at once against a live server on
PostgreSQL; the sequential ones run everywhere, also with Redis unreachable.
"""

import datetime
import html
import http.cookiejar
import io
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from doctors.models import ActivityEvent, ChangeSet, Doctor, ImportRun, Run
from doctors.runs import access, status, undos
from tests.at_once import at_once
from tests.factories import USER_PASSWORD, DoctorFactory, UserFactory
from tests.test_admin_csv import upload
from tests.test_undo import DAMAGE, build_clinic, csv_bytes, state

# A Redis nobody listens on: every cache call fails at once (and is ignored).
REDIS_DOWN = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "KEY_PREFIX": "redis-down",
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": 0.2,
            "SOCKET_TIMEOUT": 0.2,
            "IGNORE_EXCEPTIONS": True,
        },
    }
}
# Enough rows that an undo takes a while, so two requests overlap.
MANY = csv_bytes(
    *(
        f"LIC-M{n:04d},Many,Doc{n},m{n}@clinic.test,,Cardiology,NEUR|ONC,true"
        for n in range(300)
    )
)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def undo_url(run: ImportRun) -> str:
    return reverse("admin:doctors_importrun_undo", args=[run.pk])


def run_url(run: ImportRun) -> str:
    return reverse("admin:doctors_importrun_change", args=[run.pk])


def imported(client, data: bytes = DAMAGE) -> ImportRun:
    upload(client, data)
    run = ImportRun.objects.latest("pk")
    client.post(reverse("admin:doctors_doctor_import_confirm", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == "succeeded"
    return run


def undo_events() -> int:
    return ActivityEvent.objects.filter(verb=ActivityEvent.Verb.UNDONE).count()


@pytest.mark.django_db
class TestSubmittedAgain:
    @pytest.fixture(autouse=True)
    def clinic(self):
        build_clinic()

    def test_the_undo_page_posted_twice_undoes_once_and_says_so(self, staff_client):
        before = state()
        run = imported(staff_client)
        after = state()
        url = undo_url(run)
        attempt = staff_client.get(url).context["attempt"].pk

        first = staff_client.post(url, {"attempt": attempt})
        assert first.status_code == 302
        assert messages_of(first)[-1].startswith(f"Undid import #{run.pk}")
        assert state() == before

        second = staff_client.post(url, {"attempt": attempt})
        assert second.status_code == 302 and second["Location"] == run_url(run)
        message = messages_of(second)[-1]
        assert message.startswith(
            f"The undo of import #{run.pk} (doctors.csv) was already done by "
            "staff-user at "
        )
        assert f"Undid import #{run.pk}" in message
        # Not redone: the second submission changed nothing.
        assert state() == before != after
        assert undo_events() == 1

    def test_an_undo_confirmed_from_an_older_page_is_told_who_undid_it(
        self, staff_client
    ):
        """Two pages (two tabs) show the same undo: the second confirm finds the
        run undone already and neither undoes again nor redoes it."""
        before = state()
        run = imported(staff_client)
        url = undo_url(run)
        tab_1 = staff_client.get(url).context["attempt"].pk
        tab_2 = staff_client.get(url).context["attempt"].pk
        assert tab_1 != tab_2

        staff_client.post(url, {"attempt": tab_1})
        second = staff_client.post(url, {"attempt": tab_2})
        assert second.status_code == 302
        message = messages_of(second)[-1]
        assert message.startswith(f"Import #{run.pk} was already undone by staff-user")
        assert message.endswith("; nothing more was done.")
        assert state() == before
        assert undo_events() == 1
        assert Run.objects.get(pk=tab_2).status == Run.Status.REFUSED

    def test_a_redo_page_posted_twice_redoes_once(self, staff_client):
        run = imported(staff_client)
        after = state()
        url = undo_url(run)
        staff_client.post(url, {"attempt": staff_client.get(url).context["attempt"].pk})
        page = staff_client.get(url)
        assert page.context["preview"].redo
        attempt = page.context["attempt"].pk
        staff_client.post(url, {"attempt": attempt})
        assert state() == after
        second = staff_client.post(url, {"attempt": attempt})
        assert "The redo of import" in messages_of(second)[-1]
        assert state() == after
        assert undo_events() == 2

    def test_a_post_without_the_page_it_confirms_does_nothing(self, staff_client):
        run = imported(staff_client)
        after = state()
        response = staff_client.post(undo_url(run), {})
        assert response.status_code == 200
        assert "This page is out of date" in messages_of(response)[-1]
        assert state() == after

    def test_another_users_page_cannot_be_confirmed(self, staff_client, superuser):
        run = imported(staff_client)
        after = state()
        root = Client()
        root.force_login(superuser)
        attempt = root.get(undo_url(run)).context["attempt"].pk
        response = staff_client.post(undo_url(run), {"attempt": attempt})
        assert "This page is out of date" in messages_of(response)[-1]
        assert state() == after

    def test_a_background_undo_posted_twice_with_redis_down_is_queued_once(
        self, staff_client, settings
    ):
        """The claim is a row in the database: an unreachable Redis does not
        let a second submission through."""
        before = state()
        run = imported(staff_client)
        settings.IMPORT_BACKGROUND_ROWS = 2
        url = undo_url(run)
        with override_settings(CACHES=REDIS_DOWN):
            attempt = staff_client.get(url).context["attempt"].pk
            first = staff_client.post(url, {"attempt": attempt})
            assert first["Location"] == url
            second = staff_client.post(url, {"attempt": attempt})
            assert "is already under way" in messages_of(second)[-1]
            page = staff_client.get(url)
            assert 'id="import-progress"' in page.content.decode()
            assert status.ACTIVE == (Run.Status.QUEUED, Run.Status.RUNNING)
            assert Run.objects.filter(status=Run.Status.QUEUED).count() == 1
            from tests.test_admin_csv import run_worker

            run_worker(pytest.MonkeyPatch())
            assert state() == before
            done = staff_client.get(url)
            assert messages_of(done)[-1].startswith(f"Undid import #{run.pk}")
            # Shown once.
            assert staff_client.get(url).status_code == 200

    def test_the_undo_page_with_redis_down_undoes_once(self, staff_client):
        before = state()
        run = imported(staff_client)
        with override_settings(CACHES=REDIS_DOWN):
            attempt = staff_client.get(undo_url(run)).context["attempt"].pk
            staff_client.post(undo_url(run), {"attempt": attempt})
            second = staff_client.post(undo_url(run), {"attempt": attempt})
        assert "was already done" in messages_of(second)[-1]
        assert state() == before
        assert undo_events() == 1

    def test_a_revert_page_posted_twice_reverts_once(self, staff_client):
        doctor = DoctorFactory(last_name="Before")
        moment = timezone.now()
        doctor.last_name = "After"
        doctor.save()
        url = reverse("admin:doctors_doctor_revert", args=[doctor.pk])
        at = moment.isoformat()
        attempt = staff_client.get(url, {"at": at}).context["attempt"].pk
        first = staff_client.post(url, {"at": at, "attempt": attempt})
        assert first.status_code == 302
        doctor.refresh_from_db()
        assert doctor.last_name == "Before"
        # Someone changes it again; the old page, posted again, must not revert.
        doctor.last_name = "Later"
        doctor.save()
        second = staff_client.post(url, {"at": at, "attempt": attempt})
        assert second.status_code == 302
        message = messages_of(second)[-1]
        # Named as the page showed it.
        assert message.startswith(f"The revert of Dr {doctor.first_name} After to ")
        assert "was already done by staff-user at" in message
        doctor.refresh_from_db()
        assert doctor.last_name == "Later"
        assert Run.objects.get(pk=attempt).status == Run.Status.SUCCEEDED


@pytest.mark.django_db
def test_who_may_see_and_act_on_a_run(clinic_staff, superuser, manager):
    own = ImportRun.objects.create(
        kind="doctors",
        status="succeeded",
        source="admin",
        file_name="a.csv",
        user=clinic_staff,
    )
    other = ImportRun.objects.create(
        kind="doctors",
        status="succeeded",
        source="admin",
        file_name="b.csv",
        user=superuser,
    )
    assert list(access.visible_runs(clinic_staff)) == [own]
    assert set(access.visible_runs(superuser)) == {own, other}
    assert access.may_confirm(clinic_staff, own)
    assert not access.may_confirm(superuser, own)  # only who saw the preview
    assert access.may_undo(clinic_staff, own) and not access.may_undo(
        clinic_staff, other
    )
    assert not access.may_undo(manager, own)
    doctor = DoctorFactory()
    assert access.may_revert(clinic_staff, doctor)
    assert not access.may_revert(manager, doctor)


@pytest.mark.django_db
def test_the_sweep_drops_stale_previews_and_fails_stuck_runs(superuser):
    build_clinic()
    from doctors.importing.runner import import_doctors

    run = import_doctors(
        io.BytesIO(DAMAGE), file_name="doctors.csv", user=superuser
    ).run
    stale, _ = undos.prepare(run, superuser)
    fresh, _ = undos.prepare(run, superuser)
    stuck, _ = undos.prepare(run, superuser)
    long_ago = timezone.now() - datetime.timedelta(days=3)
    Run.objects.filter(pk=stale.pk).update(created_at=long_ago)
    Run.objects.filter(pk=stuck.pk).update(
        status=Run.Status.RUNNING, claimed_at=long_ago, created_at=long_ago
    )
    assert status.sweep() == {"previews_dropped": 1, "runs_failed": 1}
    assert not Run.objects.filter(pk=stale.pk).exists()
    assert Run.objects.get(pk=fresh.pk).status == Run.Status.PREVIEWED
    stuck.refresh_from_db()
    assert stuck.status == Run.Status.FAILED and "nothing was changed" in stuck.outcome


# Two requests at once, on a live server ------------------------------------------


class Browser:
    """One logged-in admin session over HTTP: its own cookies, redirects not
    followed (the test follows them, to read the messages)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str, username: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect
        )
        page = self.get("/admin/login/")
        status, _ = self.post(
            "/admin/login/?next=/admin/",
            {
                "username": username,
                "password": USER_PASSWORD,
                "next": "/admin/",
                "csrfmiddlewaretoken": self.token(page),
            },
        )
        assert status == 302, "login failed"

    def get(self, path: str) -> str:
        try:
            with self.opener.open(self.base + path, timeout=60) as response:
                return response.read().decode()
        except urllib.error.HTTPError as error:
            if error.code in (301, 302):
                return self.get(error.headers["Location"])
            raise

    @staticmethod
    def token(page: str) -> str:
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]

    @staticmethod
    def hidden(page: str, name: str) -> str:
        return html.unescape(re.search(rf'name="{name}" value="([^"]*)"', page)[1])

    def post(self, path: str, data: dict) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(
            self.base + path, body, headers={"Referer": self.base + path}
        )
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", "")

    def messages(self, location: str) -> list[str]:
        page = self.get(location)
        listed = re.search(r'<ul class="messagelist">(.*?)</ul>', page, re.S)
        return [
            html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
            for text in re.findall(
                r"<li[^>]*>(.*?)</li>", listed[1] if listed else "", re.S
            )
        ]


@pytest.fixture
def two_tabs(live_server, transactional_db, settings):
    """The same superuser logged in twice (two browsers) on a live server."""
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite: the live server shares the test's one connection, so two "
            "requests cannot run at once; the race is checked on PostgreSQL"
        )
    # The live server speaks plain HTTP: cookies marked Secure would not return.
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = False
    UserFactory(username="root-user", is_superuser=True)
    build_clinic()
    return Browser(live_server.url, "root-user"), Browser(live_server.url, "root-user")


def post_form(browser: Browser, path: str, page: str, **data) -> tuple[int, str]:
    return browser.post(path, {"csrfmiddlewaretoken": browser.token(page), **data})


@pytest.mark.slow
def test_two_confirms_at_once_import_once(two_tabs):
    first, second = two_tabs
    client = Client()
    client.force_login(first_user())
    upload(client, MANY)
    run = ImportRun.objects.latest("pk")
    run_page = reverse("admin:doctors_doctor_import_run", args=[run.pk])
    confirm = reverse("admin:doctors_doctor_import_confirm", args=[run.pk])
    pages = first.get(run_page), second.get(run_page)

    outcomes = at_once(
        lambda: post_form(first, confirm, pages[0]),
        lambda: post_form(second, confirm, pages[1]),
    )
    assert [code for code, _ in outcomes] == [302, 302]
    told = first.messages(outcomes[0][1]) + second.messages(outcomes[1][1])
    assert sum(m.startswith("Import of doctors.csv") for m in told) == 1, told
    assert sum("already" in m and "nothing more was done" in m for m in told) == 1, told
    assert Doctor.objects.filter(license_number__startswith="LIC-M").count() == 300
    assert ChangeSet.objects.filter(import_runs=run).count() == 1


def first_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="root-user")


def imported_live(data: bytes = MANY) -> ImportRun:
    client = Client()
    client.force_login(first_user())
    return imported(client, data)


@pytest.mark.slow
@pytest.mark.parametrize("same_page", [True, False], ids=["same page", "two pages"])
def test_two_undos_at_once_undo_once(two_tabs, same_page):
    first, second = two_tabs
    before = state()
    run = imported_live()
    url = undo_url(run)
    page_1, page_2 = first.get(url), second.get(url)
    # The same page submitted twice, or two pages showing the same undo.
    attempt_2 = Browser.hidden(page_1 if same_page else page_2, "attempt")

    outcomes = at_once(
        lambda: post_form(first, url, page_1, attempt=first.hidden(page_1, "attempt")),
        lambda: post_form(second, url, page_2, attempt=attempt_2),
    )
    assert state() == before
    assert undo_events() == 1
    assert ChangeSet.objects.filter(undoes=run.change_set).count() == 1
    assert not ChangeSet.objects.filter(undoes__undoes=run.change_set).exists()
    told = first.messages(outcomes[0][1]) + second.messages(outcomes[1][1])
    assert sum(m.startswith(f"Undid import #{run.pk}") for m in told) == 1, told
    assert (
        sum("already" in m and "nothing more was done" in m for m in told)
        + sum("was already done by root-user" in m for m in told)
        == 1
    ), told


@pytest.mark.slow
def test_two_redos_at_once_redo_once(two_tabs):
    first, second = two_tabs
    run = imported_live()
    after = state()
    url = undo_url(run)
    page = first.get(url)
    post_form(first, url, page, attempt=first.hidden(page, "attempt"))
    page_1, page_2 = first.get(url), second.get(url)
    assert "Confirm redo" in page_1 and "Confirm redo" in page_2

    outcomes = at_once(
        lambda: post_form(first, url, page_1, attempt=first.hidden(page_1, "attempt")),
        lambda: post_form(
            second, url, page_2, attempt=second.hidden(page_2, "attempt")
        ),
    )
    assert state() == after
    assert undo_events() == 2
    told = first.messages(outcomes[0][1]) + second.messages(outcomes[1][1])
    assert sum(m.startswith(f"Redid import #{run.pk}") for m in told) == 1, told
    assert (
        sum(f"Import #{run.pk} was already redone by root-user" in m for m in told) == 1
    ), told


@pytest.mark.slow
def test_two_reverts_at_once_revert_once(two_tabs):
    first, second = two_tabs
    doctor = Doctor.objects.get(license_number="LIC-ANN")
    moment = timezone.now()
    doctor.departments.clear()
    doctor.last_name = "Changed"
    doctor.save()
    url = reverse("admin:doctors_doctor_revert", args=[doctor.pk])
    query = "?" + urllib.parse.urlencode({"at": moment.isoformat()})
    page = first.get(url + query)
    data = {
        "at": first.hidden(page, "at"),
        "attempt": first.hidden(page, "attempt"),
    }
    # The second browser submits the first one's page (its own CSRF token).
    page_2 = second.get(url + query)

    outcomes = at_once(
        lambda: post_form(first, url, page, **data),
        lambda: post_form(second, url, page_2, **data),
    )
    assert [code for code, _ in outcomes] == [302, 302]
    doctor.refresh_from_db()
    assert doctor.last_name != "Changed" and doctor.memberships.count() == 2
    told = first.messages(outcomes[0][1]) + second.messages(outcomes[1][1])
    assert sum(" reverted to " in m and "already" not in m for m in told) == 1, told
    assert (
        sum("was already done by root-user" in m for m in told)
        + sum("is already under way" in m for m in told)
        == 1
    ), told
    assert ChangeSet.objects.filter(description__startswith="Revert ").count() == 1
    [done] = Run.objects.filter(kind="revert", status="succeeded")
    assert done.pk == int(data["attempt"])
