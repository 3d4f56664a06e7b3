"""Browser journeys: Debian's Chromium, driven by Playwright, against a live server.

How the pieces fit:
- pytest-playwright starts Playwright and ONE browser per session
  (`browser_type_launch_args` points it at the system Chromium); each test gets
  new browser contexts (fresh cookies and storage) through `new_context`, `page`
  or `page_as(user)`.
- pytest-django's `live_server` runs the project in a thread of this process,
  on the test database and the real Redis (clinic.test_settings: db 13, a key
  prefix per process). Requesting it makes a test transactional: the server
  thread must see what the test commits, and the test what the server commits.
  With SQLite the test database is in memory and Django hands the server thread
  the test's own connection; on PostgreSQL each thread has its own.
- The flush after each transactional test also deletes the roles (groups) that
  the data migration created; `_roles` makes them again before each browser
  test, so factories can use the "Clinic staff" and "Managers" groups.
- The browser tests run after every other test: see `playwright` below for what
  a running Playwright changes in this process.
- When a test fails, every page it had open is saved (screenshot and HTML) under
  var/test-artifacts/<database>/<test>/, and the failure report lists the files.

Rule for journeys: after a browser action that sends a request, wait for what
the user sees next (the helpers in pages.py do) before touching the ORM in the
test. The server may still be using the database until then, and with SQLite it
shares the test's connection.
"""

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.models import Q
from django.test import Client
from playwright.sync_api import BrowserContext, Error, Page, expect

from doctors.roles import ROLE_PERMISSIONS

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# No sandbox: the tests may run as root in a container, where Chromium's sandbox
# cannot start. The rest keeps Chromium from reaching out to the network (it
# has none here besides the live server) and from needing a GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
# Generous for a loaded two-core machine, short enough that a missing element
# fails the test well before pytest-timeout's limit.
ACTION_TIMEOUT_MS = 15_000

_open_contexts = pytest.StashKey[list[BrowserContext]]()

expect.set_options(timeout=ACTION_TIMEOUT_MS)


def _missing_chromium_message() -> str:
    return (
        f"No Chromium at {CHROMIUM}: the browser journeys (tests/browser/) need "
        "Debian's chromium package. `make test` installs it when run as root; "
        "otherwise run `sudo apt-get install chromium` (or set CHROMIUM_PATH)."
    )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Launch the system Chromium; Playwright's own browser download is not used."""
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail(_missing_chromium_message(), pytrace=False)
        pytest.skip(_missing_chromium_message())
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def playwright(playwright):
    # Playwright's sync API keeps an asyncio event loop marked as running in
    # this thread from its start to the end of the session, so Django refuses
    # ORM calls from the test (SynchronousOnlyOperation) although nothing here
    # is asynchronous: the loop only waits for the browser while the test is
    # blocked. Setting the variable lifts that check, for this session only.
    # The running loop has a second effect: Django's connections are then kept
    # per context instead of per thread, so the test (and the live server it
    # starts) get new connection objects, not the ones the other tests used.
    # That is harmless for transactional tests, and the reason the browser tests
    # run last (pytest_collection_modifyitems below).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield playwright


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    """Pages open relative URLs ("/admin/") on the live server."""
    return live_server.url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """Every context reads the pages in English, in UTC, on a desktop screen."""
    return {
        **browser_context_args,
        "locale": "en-US",
        "timezone_id": "UTC",
        "viewport": {"width": 1280, "height": 900},
    }


@pytest.fixture(autouse=True)
def _roles(transactional_db) -> None:
    """The roles of the data migration exist in every browser test.

    (Django's serialized_rollback cannot restore them here: it keeps its copy
    on the connection object the test database was created with.)
    """
    for name, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = Q()
        for code in codes:
            app_label, codename = code.split(".")
            permissions |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(permissions))
        assert group.permissions.count() == len(codes), f"{name}: missing permissions"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last (after pytest-django's own ordering): once Playwright
    runs, Django in this process behaves as if called from async code."""
    here = Path(__file__).parent
    items.sort(key=lambda item: here in item.path.parents)


@pytest.fixture
def new_context(new_context, request) -> Callable[..., BrowserContext]:
    """pytest-playwright's context factory, remembering the contexts it opened
    so that a failure can save their pages."""
    opened = request.node.stash.setdefault(_open_contexts, [])

    def open_context(**kwargs) -> BrowserContext:
        context = new_context(**kwargs)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        opened.append(context)
        return context

    return open_context


@pytest.fixture
def page_as(new_context, live_server) -> Callable[..., Page]:
    """`page_as(user)`: a page in a new context, already logged in as `user`.

    The session is made on the server side, so journeys that are not about
    logging in skip the login form (the first journey in test_memberships.py
    goes through it).
    """

    def open_page(user) -> Page:
        client = Client()
        client.force_login(user)
        context = new_context()
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
        return context.new_page()

    return open_page


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call) -> Iterator:
    report = yield
    # The contexts are still open here (fixtures are torn down later), so the
    # pages show what the test saw when it failed.
    if report.failed and report.when in ("setup", "call"):
        saved = save_pages(item)
        if saved:
            report.sections.append(
                ("browser pages saved", "\n".join(str(path) for path in saved))
            )
    return report


def save_pages(item: pytest.Item) -> list[Path]:
    """Screenshot and HTML of every open page of the test, for the failure report."""
    contexts = item.stash.get(_open_contexts, [])
    pages = [page for context in contexts for page in context.pages]
    if not pages:
        return []
    folder = ARTIFACTS_DIR / connection.vendor / _file_name(item.nodeid)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    saved = []
    for number, page in enumerate(pages, start=1):
        stem = folder / f"page-{number}"
        try:
            page.screenshot(path=stem.with_suffix(".png"), full_page=True, timeout=5000)
            saved.append(stem.with_suffix(".png"))
            stem.with_suffix(".html").write_text(page.content(), encoding="utf-8")
            saved.append(stem.with_suffix(".html"))
        except Error as error:  # a closed page or a crashed browser
            stem.with_suffix(".txt").write_text(
                f"Could not save {page.url}: {error}\n", encoding="utf-8"
            )
            saved.append(stem.with_suffix(".txt"))
    return saved


def _file_name(nodeid: str) -> str:
    name = nodeid.removeprefix("tests/browser/")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:150]
