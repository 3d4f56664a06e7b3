"""The admin works under the strict Content-Security-Policy, in a real browser.

Chromium (Debian's, driven by Playwright) walks the admin journeys a staff member
uses — login, index, changelists, the doctor form with its department
autocomplete and "add another" inline row, the record history — and every
`securitypolicyviolation` event and CSP console error is collected. Any one of
them fails the test: a blocked script or style is a broken page.

The browser comes from the shared fixtures in conftest.py.
"""

import re

import pytest
from django.urls import reverse

from doctors.models import Doctor
from tests.factories import DepartmentFactory, DoctorFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"

# Runs in every page before its own scripts: records CSP violations the page
# reports. Playwright injects it through the DevTools protocol, outside the CSP.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} ` +
    `at ${event.sourceFile || document.location.pathname}:${event.lineNumber}`
  );
});
"""


class ViolationLog:
    """CSP violations and script errors seen by one browser page."""

    def __init__(self, page):
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _on_console(self, message):
        text = message.text
        if message.type == "error" and re.search(
            r"Content Security Policy|Refused to", text
        ):
            self.console.append(text)

    def collect(self) -> list[str]:
        """What the current document reported, and the console since last time.

        Violation events are queued tasks: a short timer inside the page lets
        those already queued run before the list is read.
        """
        reported = self.page.evaluate(
            "new Promise((done) => setTimeout(() => done(window.__cspViolations"
            " || []), 50))"
        )
        found = [*reported, *self.console, *self.errors]
        self.console.clear()
        self.errors.clear()
        return found


@pytest.fixture
def admin_page(new_context, settings):
    """A logged-in superuser's page, plus the log of what it reported."""
    # The live server speaks plain HTTP; secure-only cookies would not return.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    user = UserFactory(username="csp-admin", is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    context = new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    log = ViolationLog(page)
    return page, log


def log_in(page, log):
    page.goto(reverse("admin:login"))
    assert log.collect() == [], "login page"
    page.fill("#id_username", "csp-admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def visit(page, log, url) -> list[str]:
    response = page.goto(url)
    assert response.status == 200, url
    page.wait_for_load_state("load")
    return log.collect()


def test_violation_recorder_catches_an_inline_style(admin_page):
    """The detector is live: a style attribute added to a page is reported."""
    page, log = admin_page
    page.goto(reverse("admin:login"))
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', "
        "'<div style=\"color: red\">injected</div>')"
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert any("style-src" in v for v in log.collect())


def test_admin_pages_render_without_csp_violations(admin_page):
    """Index, changelists, forms and history pages report no violation."""
    page, log = admin_page
    department = DepartmentFactory(name="Cardiology")
    doctor = DoctorFactory(last_name="Osler")
    doctor.first_name = "William"
    doctor.save()
    log_in(page, log)
    urls = [
        reverse("admin:index"),
        reverse("admin:doctors_doctor_changelist"),
        reverse("admin:doctors_doctor_changelist") + "?q=Osler&is_active__exact=1",
        reverse("admin:doctors_doctor_add"),
        reverse("admin:doctors_doctor_change", args=[doctor.pk]),
        reverse("admin:doctors_doctor_history", args=[doctor.pk]),
        reverse(
            "admin:doctors_doctor_simple_history",
            args=[doctor.pk, doctor.history.first().history_id],
        ),
        reverse("admin:doctors_department_changelist"),
        reverse("admin:doctors_department_change", args=[department.pk]),
        reverse("admin:doctors_activityevent_changelist"),
        reverse("admin:dashboard"),
        reverse("admin:dashboard") + "?period=90",
        reverse("admin:doctors_doctor_import"),
        reverse("admin:doctors_department_import"),
        reverse("admin:doctors_importrun_changelist"),
        reverse("admin:auth_user_changelist"),
        reverse("admin:axes_accessattempt_changelist"),
    ]
    problems = {url: found for url in urls if (found := visit(page, log, url))}
    assert problems == {}


def test_doctor_form_autocomplete_and_add_another_row_work(admin_page):
    """Adding a membership row and picking a department through the autocomplete
    saves the membership, with no violation on the way."""
    page, log = admin_page
    DepartmentFactory(name="Neurology", code="NEU")
    doctor = DoctorFactory(last_name="Cushing")
    log_in(page, log)
    assert (
        visit(page, log, reverse("admin:doctors_doctor_change", args=[doctor.pk])) == []
    )

    page.click(".add-row a")  # the inline's "Add another department membership"
    row = page.locator("tr.form-row.dynamic-memberships").last
    row.locator(".select2-selection").click()
    page.fill(".select2-search__field", "Neuro")
    page.locator(".select2-results__option", has_text="Neurology").click()
    page.click("input[name=_continue]")
    page.wait_for_load_state("load")

    assert log.collect() == []
    messages = page.locator(".messagelist .success").all_inner_texts()
    assert any("Neurology" in message for message in messages), messages
    assert list(
        Doctor.objects.get(pk=doctor.pk).departments.values_list("name", flat=True)
    ) == ["Neurology"]
