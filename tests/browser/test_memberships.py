"""Journeys through department memberships: the inline rows with the autocomplete
widget on the doctor page, a department's member list, and the messages saying
what changed."""

import datetime
import re

import pytest
from django.utils.formats import date_format
from playwright.sync_api import expect

from doctors import periods
from doctors.models import ActivityEvent, Doctor, Membership
from doctors.roles import CLINIC_STAFF
from tests.browser.pages import (
    ChangeForm,
    changelist_rows,
    expect_message,
    log_in,
    open_admin,
    search_changelist,
)
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser


def test_staff_log_in_and_create_a_doctor_in_two_departments(page):
    """Staff log in through the login form, add a doctor, pick two departments in
    the inline's autocomplete, and read that the doctor joined both, with the
    first one as primary."""
    UserFactory(username="nurse-ann", groups=[CLINIC_STAFF])
    DepartmentFactory(code="CARD", name="Cardiology")
    DepartmentFactory(code="NEUR", name="Neurology")
    DepartmentFactory(code="NEPH", name="Nephrology")

    log_in(page, "nurse-ann")
    expect(page.get_by_text("Welcome, nurse-ann")).to_be_visible()
    with page.expect_navigation():
        page.locator("tr.model-doctor").get_by_role("link", name="Add").click()
    expect(page.get_by_role("heading", name="Add doctor")).to_be_visible()

    form = ChangeForm(page)
    form.fill("License number", "LIC-77001")
    form.fill("First name", "Jane")
    form.fill("Last name", "Roe")
    form.choose("Specialty", "Cardiology")
    form.fill("Email", "jane.roe@clinic.test")
    cardiology = form.add_inline_row("Add another department membership")
    # "Ne" matches two departments: the user has to pick from the suggestions.
    cardiology.pick("department", "Card", "Cardiology")
    cardiology.check("is_primary")
    neurology = form.add_inline_row("Add another department membership")
    neurology.pick("department", "Ne", "Neurology")
    form.save()

    expect_message(page, "The doctor “Dr Jane Roe” was added successfully.")
    today = date_format(periods.today())
    expect_message(
        page,
        f"Dr Jane Roe: joined Cardiology on {today} (primary department); "
        f"joined Neurology on {today}.",
    )
    row = changelist_rows(page).filter(has_text="Roe, Jane")
    expect(row.locator("td.field-primary_department")).to_have_text("Cardiology")
    expect(row.locator("td.field-department_list")).to_have_text(
        "Cardiology, Neurology"
    )
    doctor = Doctor.objects.get(license_number="LIC-77001")
    assert sorted(doctor.memberships.values_list("department__name", "is_primary")) == [
        ("Cardiology", True),
        ("Neurology", False),
    ]


def test_staff_manage_the_members_of_a_large_department(page_as, clinic_staff):
    """Clinic staff open a department of 500 members, find a doctor by name on
    its member list and make her head, remove another, add two doctors at once
    with the autocomplete, and read the messages, the feed and the History."""
    cardiology = DepartmentFactory(code="CARD", name="Cardiology")
    many = Doctor.objects.bulk_create(
        Doctor(
            license_number=f"MANY-{n:05d}",
            first_name=f"Member{n:03d}",
            last_name=f"Many{n:03d}",
            email=f"member{n}@clinic.test",
            specialty="cardiology",
        )
        for n in range(496)
    )
    Membership.objects.bulk_create(
        Membership(doctor=doctor, department=cardiology) for doctor in many
    )
    ada = DoctorFactory(first_name="Ada", last_name="Lovelace")
    grace = DoctorFactory(first_name="Grace", last_name="Hopper")
    since = datetime.date(2020, 1, 1)
    MembershipFactory(
        doctor=ada, department=cardiology, role=Membership.Role.HEAD, joined_on=since
    )
    MembershipFactory(doctor=grace, department=cardiology, joined_on=since)
    MembershipFactory(doctor=DoctorFactory(last_name="Babbage"), department=cardiology)
    MembershipFactory(doctor=DoctorFactory(last_name="Curie"), department=cardiology)
    DoctorFactory(first_name="Alan", last_name="Turing")
    DoctorFactory(first_name="Katherine", last_name="Johnson")
    ActivityEvent.objects.all().delete()  # the set-up's own events

    page = page_as(clinic_staff)
    open_admin(page, "admin:doctors_department_change", cardiology.pk)
    expect(page.locator(".field-members")).to_contain_text("500 members")
    expect(page.locator(".field-head_of_department")).to_contain_text("Dr Ada Lovelace")
    with page.expect_navigation():
        page.get_by_role("link", name="Manage members").click()
    expect(page.get_by_role("heading", name="Members of Cardiology")).to_be_visible()
    expect(changelist_rows(page)).to_have_count(50)

    # Find Grace by name and make her head from today: Ada is a member from
    # today, her headship ended yesterday.
    today = date_format(periods.today())
    search_changelist(page, "Hopper")
    run_action(
        page,
        "Hopper",
        "Make head from the day chosen (the head becomes a member)",
    )
    expect_message(
        page,
        f"Cardiology: Dr Ada Lovelace member from {today} (was head); "
        f"Dr Grace Hopper head from {today} (was member).",
    )
    # Take Ada out of the department: her period as a member, which starts
    # today, never happens (she left as head yesterday).
    search_changelist(page, "Lovelace")
    run_action(page, "Lovelace", "Remove selected doctors from the department")
    expect(page.locator("#destroyed-objects li")).to_have_count(1)
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, remove this doctor").click()
    expect_message(
        page, f"Cardiology: period of Dr Ada Lovelace from {today} cancelled."
    )

    # Two doctors at once, picked in the autocomplete.
    adding = page.locator("#add-doctors-form")
    pick_autocomplete_many(page, adding, "Turi", "Dr Alan Turing")
    pick_autocomplete_many(page, adding, "Johns", "Dr Katherine Johnson")
    with page.expect_navigation():
        adding.get_by_role("button", name="Add doctors").click()
    expect_message(
        page, f"Cardiology: Dr Katherine Johnson, Dr Alan Turing joined on {today}."
    )
    expect(page.locator(".field-members")).to_have_count(0)

    # The feed lists every change under the doctor's name.
    with page.expect_navigation():
        page.locator("#nav-sidebar").get_by_role("link", name="Activity events").click()
    search_changelist(page, "Cardiology")
    rows = changelist_rows(page)
    expect(rows.filter(has_text="Joined Cardiology on")).to_have_count(2)
    expect(rows.filter(has_text="Cancelled the period in Cardiology")).to_have_count(1)
    expect(rows.filter(has_text="(was head)")).to_have_count(1)
    expect(rows.filter(has_text="(was member)")).to_have_count(1)
    expect(
        rows.filter(has_text="Cancelled the period").locator("td.field-actor_column")
    ).to_have_text(clinic_staff.username)

    # The department's History page shows them too.
    open_admin(page, "admin:doctors_department_history", cardiology.pk)
    history = page.locator("#membership_change_history tbody tr")
    expect(history).to_have_count(5)
    expect(history.first).to_contain_text("Joined")
    expect(history.filter(has_text="Lovelace").first).to_contain_text(
        clinic_staff.username
    )

    assert cardiology.memberships.count() == 501
    head = cardiology.memberships.get(role=Membership.Role.HEAD)
    assert head.doctor_id == grace.pk
    assert not cardiology.memberships.filter(doctor=ada).exists()
    assert ActivityEvent.objects.filter(verb__startswith="membership_").count() == 5


def run_action(page, row_text: str, action: str) -> None:
    """Tick the row showing `row_text`, choose the action and run it."""
    row = changelist_rows(page).filter(has_text=row_text)
    expect(row).to_have_count(1)
    row.locator("input.action-select").check()
    page.locator("select[name=action]").first.select_option(label=action)
    with page.expect_navigation():
        page.get_by_role("button", name="Run").first.click()


def pick_autocomplete_many(page, form, search: str, option: str) -> None:
    """Type into a multiple autocomplete and pick one of the suggestions."""
    form.locator(".select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(search)
    # A doctor is offered as "Dr Alan Turing — LIC-1, Cardiology".
    choice = page.locator(
        ".select2-container--open .select2-results__option",
        has_text=re.compile(rf"^{re.escape(option)}( — .*)?$"),
    )
    expect(choice).to_have_count(1)
    choice.click()
    expect(form.locator(".select2-selection__choice", has_text=option)).to_have_count(1)
