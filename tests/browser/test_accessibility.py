"""Accessibility: the basics check (tests/browser/accessibility.py) on a page
made to break every rule it knows and on the doctor change form; and the gate,
axe-core's WCAG 2.1 A and AA rules over every page a person opens."""

import re

import pytest
from django.urls import reverse
from django.utils.http import urlencode
from playwright.sync_api import expect

from doctors import undo
from doctors.admin.timetravel import moment_param
from doctors.context import acting_as
from doctors.demo import seed_demo
from doctors.models import ActivityEvent, ChangeSet, Department, Doctor, ImportRun
from tests.browser.accessibility import (
    accessibility_problems,
    assert_accessible,
    assert_no_axe_violations,
    axe_violations,
)
from tests.browser.pages import open_admin
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.test_undo import build_clinic, run_import

pytestmark = pytest.mark.browser

CHECKED_PAGE = """
<!doctype html><title>Check</title>
<form>
  <label for="named">Named</label><input id="named">
  <label>Wrapped <select name="wrapped"><option>a</option></select></label>
  <input aria-label="By aria-label" name="aria">
  <span id="words">By reference</span><textarea aria-labelledby="words"></textarea>
  <label for="search"><img src="data:," alt="Search"></label><input id="search">
  <input type="hidden" name="hidden-is-fine">
  <input type="submit" value="Buttons need no label">
  <div hidden><input name="not-rendered"></div>
  <input id="unnamed">
  <input name="placeholder-only" placeholder="A placeholder is no label">
  <label for="elsewhere"></label><select id="elsewhere"></select>
  <span role="combobox" tabindex="0" id="bare-combobox"></span>
</form>
<svg id="decorative" aria-hidden="true" width="10" height="10"></svg>
<svg id="labelled" aria-label="Doctors per department: Cardiology 3" width="10"
     height="10"></svg>
<svg id="titled" width="10" height="10"><title>Changes per day</title></svg>
<svg id="tabled" aria-describedby="figures" width="10" height="10"></svg>
<table id="figures"><tr><th>Cardiology</th><td>3</td></tr></table>
<figure><svg id="in-figure" width="10" height="10"></svg>
  <table><tr><th>Neurology</th><td>2</td></tr></table></figure>
<svg id="mute-chart" width="10" height="10"><rect width="5" height="5"></rect></svg>
<canvas id="mute-canvas" width="10" height="10"></canvas>
<canvas id="named-canvas" aria-label="Imports per week: 4" width="10"
        height="10"></canvas>
"""


def test_the_check_names_each_unlabelled_field_and_mute_chart(page):
    """Fields without a label (a placeholder is not one) and charts without a
    text alternative are reported, one line each; labelled fields, hidden
    fields, decorative images and described charts are not."""
    page.set_content(CHECKED_PAGE)
    assert accessibility_problems(page) == [
        "form field input#unnamed has no label",
        "form field input[name=placeholder-only] has no label",
        "form field select#elsewhere has no label",
        "form field span#bare-combobox has no label",
        "chart svg#mute-chart has no text alternative",
        "chart canvas#mute-canvas has no text alternative",
    ]
    with pytest.raises(AssertionError, match="input#unnamed has no label"):
        assert_accessible(page)


def test_the_doctor_change_form_passes_the_check(page_as, clinic_staff):
    """Every field of a doctor's page is labelled, the membership rows of the
    tabular inline included (their labels are otherwise only column headings)."""
    doctor = DoctorFactory()
    MembershipFactory(doctor=doctor, department=DepartmentFactory(), is_primary=True)
    page = page_as(clinic_staff)
    open_admin(page, "admin:doctors_doctor_change", doctor.pk)
    expect(page.locator("tr.form-row.has_original")).to_have_count(1)
    assert_accessible(page)


# The accessibility gate: axe-core (WCAG 2.1 A and AA) over every page a person
# opens, with zero violations.

DOCTOR_CSV_HEADER = (
    "license_number,first_name,last_name,email,phone,specialty,departments,is_active"
)


def doctors_file(*rows: str) -> dict:
    body = "\n".join([DOCTOR_CSV_HEADER, *rows]) + "\n"
    return {"name": "roster.csv", "mimeType": "text/csv", "buffer": body.encode()}


@pytest.fixture
def clinic(superuser):
    """The demo clinic (doctors, departments, heads, a feed) and one doctor
    changed twice, so history pages have versions to show."""
    seed_demo(doctors=30, departments=4, password=None)
    doctor = Doctor.objects.order_by("pk").first()
    with acting_as(superuser, source="admin", reason="Finished her residency"):
        doctor.specialty = "internal_medicine"
        doctor.save()
    return {"doctor": doctor, "department": Department.objects.order_by("pk").first()}


def check_pages(page, urls: list[str]) -> None:
    """Opens each page and collects every violation, so one run names them all."""
    problems = []
    for url in urls:
        response = page.goto(url)
        assert response.status < 500, url
        problems += [f"{url}: {line}" for line in axe_violations(page)]
    assert not problems, "axe-core violations:\n" + "\n".join(problems)


def test_every_list_and_page_passes_axe(page_as, superuser, clinic):
    doctor, department = clinic["doctor"], clinic["department"]
    versions = Doctor.history.filter(id=doctor.pk).order_by("history_id")
    first_version = versions.first()
    change_set = ChangeSet.objects.order_by("pk").first()
    event = ActivityEvent.objects.order_by("pk").first()
    urls = [
        reverse("admin:index"),
        reverse("admin:dashboard"),
        reverse("admin:doctors_doctor_changelist"),
        reverse("admin:doctors_doctor_changelist") + "?q=a",
        reverse("admin:doctors_doctor_add"),
        reverse("admin:doctors_doctor_change", args=[doctor.pk]),
        reverse("admin:doctors_doctor_history", args=[doctor.pk]),
        reverse(
            "admin:doctors_doctor_simple_history",
            args=[doctor.pk, first_version.history_id],
        ),
        reverse("admin:doctors_doctor_revert", args=[doctor.pk])
        + "?"
        + urlencode({"at": moment_param(first_version.history_date)}),
        reverse("admin:doctors_doctor_import"),
        reverse("admin:doctors_doctor_export"),
        reverse("admin:doctors_department_changelist"),
        reverse("admin:doctors_department_add"),
        reverse("admin:doctors_department_change", args=[department.pk]),
        reverse("admin:doctors_department_history", args=[department.pk]),
        reverse("admin:doctors_department_members_on", args=[department.pk]),
        reverse("admin:doctors_department_export"),
        reverse("admin:doctors_membership_changelist")
        + f"?department__id__exact={department.pk}",
        reverse("admin:doctors_membership_add"),
        reverse("admin:doctors_activityevent_changelist"),
        reverse("admin:doctors_activityevent_change", args=[event.pk]),
        reverse("admin:doctors_changeset_changelist"),
        reverse("admin:doctors_changeset_change", args=[change_set.pk]),
        reverse("admin:doctors_importrun_changelist"),
        reverse("admin:doctors_welcomeemailfailure_changelist"),
        reverse("admin:password_change"),
        "/admin/no-such-page/",
    ]
    check_pages(page_as(superuser), urls)


def test_forms_with_errors_pass_axe(page_as, superuser, clinic):
    """A form sent back with its errors, and the dashboard with bad filters."""
    page = page_as(superuser)
    problems = []
    for url_name in ["admin:doctors_doctor_add", "admin:doctors_department_add"]:
        open_admin(page, url_name)
        with page.expect_navigation():
            page.locator("input[name=_save]").click()
        expect(page.locator(".errornote")).to_be_visible()
        problems += [f"{url_name}: {line}" for line in axe_violations(page)]
    page.goto(reverse("admin:dashboard") + "?period=custom&start=2026-13-01")
    expect(page.locator(".errorlist").first).to_be_visible()
    problems += [f"dashboard: {line}" for line in axe_violations(page)]
    assert not problems, "axe-core violations:\n" + "\n".join(problems)


def test_the_import_journey_passes_axe(page_as, superuser, clinic):
    """Preview with and without problems, the run's page, the undo preview."""
    code = clinic["department"].code
    page = page_as(superuser)
    problems = []

    def upload(file: dict) -> None:
        open_admin(page, "admin:doctors_doctor_import")
        page.get_by_label(re.compile(r"^File:?$")).set_input_files(file)
        with page.expect_navigation():
            page.get_by_role("button", name="Preview").click()
        problems.extend(f"preview: {line}" for line in axe_violations(page))

    upload(doctors_file("LIC-A1,Ann,Lee,not-an-email,,cardiology,NOPE,yes"))
    upload(doctors_file(f"LIC-A1,Ann,Lee,ann@clinic.test,,cardiology,{code},yes"))
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm import").click()
    problems += [f"after import: {line}" for line in axe_violations(page)]
    run = ImportRun.objects.filter(status="succeeded").latest("pk")
    for name in ["admin:doctors_importrun_change", "admin:doctors_importrun_undo"]:
        open_admin(page, name, run.pk)
        problems += [f"{name}: {line}" for line in axe_violations(page)]
    assert not problems, "axe-core violations:\n" + "\n".join(problems)


def test_login_and_refusal_pages_pass_axe(page, page_as, clinic_staff):
    page.goto(reverse("admin:login"))
    assert_no_axe_violations(page)
    staff_page = page_as(clinic_staff)
    response = staff_page.goto(reverse("admin:dashboard"))
    assert response.status == 403
    assert_no_axe_violations(staff_page)


def test_messages_are_announced_to_screen_readers(page_as, superuser, clinic):
    """After a save the admin's message is in a live region (role=status)."""
    page = page_as(superuser)
    open_admin(page, "admin:doctors_department_change", clinic["department"].pk)
    with page.expect_navigation():
        page.locator("input[name=_save]").click()
    message = page.get_by_role("status").locator("ul.messagelist li")
    expect(message.first).to_contain_text("was changed successfully")
    assert page.get_by_role("status").get_attribute("aria-live") == "polite"


def test_the_pages_that_ask_before_destroying_pass_axe(page_as, superuser, clinic):
    """A department's member list as its page links it, the confirmation
    before removing members, and the one before deleting doctors."""
    page = page_as(superuser)
    problems = []
    page.goto(
        reverse("admin:doctors_membership_changelist")
        + f"?department={clinic['department'].pk}"
    )
    problems += [f"member list: {line}" for line in axe_violations(page)]
    for url, action in [
        (page.url, "Remove selected doctors from the department"),
        (reverse("admin:doctors_doctor_changelist"), "Delete selected doctors"),
    ]:
        page.goto(url)
        page.locator("#result_list tbody input.action-select").first.check()
        page.locator("select[name=action]").first.select_option(label=action)
        with page.expect_navigation():
            page.get_by_role("button", name="Run").first.click()
        expect(page.locator("#destroyed-objects li").first).to_be_visible()
        problems += [f"{action}: {line}" for line in axe_violations(page)]
    assert not problems, "axe-core violations:\n" + "\n".join(problems)


def test_a_run_with_pages_of_rows_and_problems_and_its_redo_pass_axe(
    page_as, superuser
):
    """The run's one page with rows and problems a page at a time, then the
    redo preview after an undo."""
    build_clinic()
    run = run_import(user=superuser)
    run.preview = [
        [n, f"LIC-{n}", "updated", {"first_name": ["B", "Bo"]}] for n in range(60)
    ]
    run.errors = [[n, "email", "Enter a valid email address."] for n in range(60)]
    run.error_count = 60
    run.save()
    page = page_as(superuser)
    urls = [
        reverse("admin:doctors_importrun_change", args=[run.pk]),
        reverse("admin:doctors_importrun_change", args=[run.pk]) + "?problems=2",
    ]
    check_pages(page, urls)
    undo.undo_import(run, user=superuser)
    check_pages(page, [reverse("admin:doctors_importrun_undo", args=[run.pk])])
    expect(page.get_by_role("button", name="Confirm redo")).to_be_visible()
