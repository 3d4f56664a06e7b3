"""Journeys on a department's member list that used to end in a refusal or
happen without asking: removing members after a confirmation with a reason,
moving a primary department, a new head chosen from a searched list, and
telling namesakes apart in the autocomplete. Each page is checked at 1366x900
with the side menu open for sideways scrolling."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils.formats import date_format
from playwright.sync_api import expect

from doctors import periods
from doctors.models import ChangeSet, Membership
from tests.browser.pages import changelist_rows, expect_message, search_changelist
from tests.browser.test_memberships import pick_autocomplete_many, run_action
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 900}


def members_page(page, department) -> None:
    page.set_viewport_size(LAPTOP)
    page.goto(
        reverse("admin:doctors_membership_changelist") + f"?department={department.pk}"
    )
    expect(page.get_by_role("heading", name=f"Members of {department}")).to_be_visible()


def expect_no_sideways_scrolling(page) -> None:
    expect(page.locator("#nav-sidebar")).to_be_visible()
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"


def test_members_are_removed_only_after_confirming_with_a_reason(page_as, clinic_staff):
    cardiology = DepartmentFactory(name="Cardiology")
    for first, last in [("Ann", "Lee"), ("Bo", "Sun"), ("Cy", "Park")]:
        MembershipFactory(
            department=cardiology,
            joined_on=datetime.date(2020, 1, 1),
            doctor=DoctorFactory(first_name=first, last_name=last),
        )
    page = page_as(clinic_staff)
    members_page(page, cardiology)
    expect_no_sideways_scrolling(page)
    for name in ("Lee, Ann", "Sun, Bo"):
        changelist_rows(page).filter(has_text=name).locator(
            "input.action-select"
        ).check()
    page.locator("select[name=action]").first.select_option(
        label="Remove selected doctors from the department"
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Run").first.click()

    expect(page.get_by_text("Remove 2 doctors from Cardiology?")).to_be_visible()
    listed = page.locator("#destroyed-objects li")
    expect(listed).to_have_count(2)
    expect(listed.first).to_contain_text("Dr Ann Lee")
    expect_no_sideways_scrolling(page)
    assert not Membership.objects.filter(left_on__isnull=False).exists()
    # The last day is asked for, yesterday by default: here, the end of
    # last month.
    last_day = periods.today().replace(day=1) - periods.ONE_DAY
    expect(page.get_by_label("Last day as a member")).to_have_value(
        periods.yesterday().isoformat()
    )
    page.get_by_label("Last day as a member").fill(last_day.isoformat())
    page.get_by_label("Reason (optional)").fill("Moved to the new clinic")
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, remove them").click()
    expect_message(
        page, f"Cardiology: Dr Ann Lee, Dr Bo Sun left on {date_format(last_day)}."
    )
    assert sorted(
        Membership.objects.exclude(left_on=None).values_list(
            "doctor__last_name", "left_on"
        )
    ) == [("Lee", last_day), ("Sun", last_day)]
    expect(changelist_rows(page)).to_have_count(1)  # the list shows members today

    # The change-set shows what was done and why.
    change_set = ChangeSet.objects.get(reason="Moved to the new clinic")
    page.goto(reverse("admin:doctors_changeset_change", args=[change_set.pk]))
    expect(page.locator("#content")).to_contain_text("Moved to the new clinic")
    expect(page.locator("#content")).to_contain_text(
        "Removed 2 doctors from Cardiology"
    )


def test_set_as_primary_moves_it_from_another_department(page_as, clinic_staff):
    cardiology = DepartmentFactory(name="Cardiology")
    neurology = DepartmentFactory(name="Neurology")
    ann = DoctorFactory(first_name="Ann", last_name="Lee")
    MembershipFactory(doctor=ann, department=neurology, is_primary=True)
    MembershipFactory(doctor=ann, department=cardiology)
    page = page_as(clinic_staff)
    members_page(page, cardiology)
    run_action(
        page, "Lee, Ann", "Set as the doctors' primary department from the day chosen"
    )
    expect_message(
        page,
        f"Dr Ann Lee's primary department is Cardiology from "
        f"{date_format(periods.today())} (was Neurology).",
    )
    assert Membership.objects.get(is_primary=True).department == cardiology


def test_a_head_chosen_in_a_searched_list_takes_over(page_as, clinic_staff):
    cardiology = DepartmentFactory(name="Cardiology")
    MembershipFactory(
        department=cardiology,
        role=Membership.Role.HEAD,
        doctor=DoctorFactory(first_name="Ada", last_name="Lovelace"),
    )
    grace = MembershipFactory(
        department=cardiology,
        doctor=DoctorFactory(first_name="Grace", last_name="Hopper"),
    )
    page = page_as(clinic_staff)
    members_page(page, cardiology)
    search_changelist(page, "Hopper")
    expect(changelist_rows(page)).to_have_count(1)  # the head is not on the page
    run_action(
        page,
        "Hopper",
        "Make head from the day chosen (the head becomes a member)",
    )
    today = date_format(periods.today())
    expect_message(
        page,
        f"Cardiology: Dr Ada Lovelace member from {today} (was head); "
        f"Dr Grace Hopper head from {today} (was member).",
    )
    assert Membership.objects.get(role=Membership.Role.HEAD).pk == grace.pk


def test_the_autocomplete_tells_namesakes_apart_and_leaves_out_members(
    page_as, clinic_staff
):
    cardiology = DepartmentFactory(name="Cardiology")
    neurology = DepartmentFactory(name="Neurology")
    MembershipFactory(
        department=neurology,
        is_primary=True,
        doctor=DoctorFactory(
            first_name="Destiny", last_name="Allen", license_number="LIC-00123"
        ),
    )
    DoctorFactory(first_name="Destiny", last_name="Allen", license_number="LIC-00456")
    MembershipFactory(
        department=cardiology,
        doctor=DoctorFactory(
            first_name="Destiny", last_name="Allen", license_number="LIC-00789"
        ),
    )
    page = page_as(clinic_staff)
    members_page(page, cardiology)
    adding = page.locator("#add-doctors-form")
    adding.locator(".select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill("Allen")
    options = page.locator(".select2-container--open .select2-results__option")
    expect(options).to_have_text(
        [
            "Dr Destiny Allen — LIC-00123, Neurology",
            "Dr Destiny Allen — LIC-00456, no primary department",
        ]
    )
    page.keyboard.press("Escape")
    pick_autocomplete_many(
        page, adding, "LIC-00123", "Dr Destiny Allen — LIC-00123, Neurology"
    )
    adding.get_by_label("Reason").fill("Joins the heart team")
    expect_no_sideways_scrolling(page)
    with page.expect_navigation():
        adding.get_by_role("button", name="Add doctors").click()
    expect_message(
        page, f"Cardiology: Dr Destiny Allen joined on {date_format(periods.today())}."
    )
    assert ChangeSet.objects.filter(
        reason="Joins the heart team", description="Added 1 doctor to Cardiology"
    ).exists()
    assert re.search("Allen", page.content())
