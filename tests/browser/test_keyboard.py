"""The member journey by keyboard alone: from a department's page to its
member list, a member ticked, an action chosen, the confirmation answered,
and the outcome read. Only key presses (Tab, Shift+Tab, Space, Enter, the
arrow keys and typing) move the focus or act; the test reads where the focus
is after each press."""

import pytest
from django.urls import reverse
from django.utils.formats import date_format
from playwright.sync_api import expect

from doctors import periods
from doctors.models import Membership
from tests.browser.pages import expect_message
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 900}
# More than any page here has focusable elements before the one sought.
MOST_PRESSES = 250


def focused(page, selector: str) -> bool:
    return page.evaluate(
        "s => document.activeElement !== null && document.activeElement.matches(s)",
        selector,
    )


def tab_to(page, selector: str, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the focus is on `selector`, and check
    that a sighted keyboard user sees where it is."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(MOST_PRESSES):
        page.keyboard.press(key)
        if focused(page, selector):
            assert page.evaluate(SHOWS_FOCUS), f"{selector}: the focus is not shown"
            return
    raise AssertionError(f"{selector} cannot be reached with {key}")


# The focused element draws an outline or a ring (the browser's or the
# admin's :focus-visible style), and is on screen.
SHOWS_FOCUS = """
() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const ring = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
    || style.boxShadow !== "none";
  const box = el.getBoundingClientRect();
  return ring && box.width > 0 && box.height > 0;
}
"""


def choose_by_arrows(page, label: str) -> None:
    """With a focused select, press Down until `label` is chosen."""
    for _ in range(20):
        page.keyboard.press("ArrowDown")
        chosen = page.evaluate(
            "() => document.activeElement.selectedOptions[0].textContent.trim()"
        )
        if chosen == label:
            return
    raise AssertionError(f"{label!r} cannot be chosen with the arrow keys")


@pytest.fixture
def cardiology():
    department = DepartmentFactory(name="Cardiology")
    for first, last in [("Ann", "Lee"), ("Bo", "Sun"), ("Cy", "Park")]:
        MembershipFactory(
            department=department,
            doctor=DoctorFactory(first_name=first, last_name=last),
        )
    return department


def open_member_list(page, department) -> None:
    page.set_viewport_size(LAPTOP)
    page.goto(reverse("admin:doctors_department_change", args=[department.pk]))
    tab_to(page, "a.manage-members")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Members of {department}")).to_be_visible()


def tick_member(page, name: str) -> None:
    row = page.locator("#result_list tbody tr").filter(has_text=name)
    row_id = row.locator("input.action-select").get_attribute("value")
    tab_to(page, f"input.action-select[value='{row_id}']")
    page.keyboard.press("Space")
    expect(row.locator("input.action-select")).to_be_checked()


def run_action(page, label: str) -> None:
    # The action bar is above the list: back up to it.
    tab_to(page, "select[name=action]", backwards=True)
    choose_by_arrows(page, label)
    tab_to(page, "button[name=index]")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_remove_a_member_by_keyboard_alone(page_as, clinic_staff, cardiology):
    page = page_as(clinic_staff)
    open_member_list(page, cardiology)
    tick_member(page, "Sun, Bo")
    run_action(page, "Remove selected doctors from the department")

    expect(page.get_by_text("Remove 1 doctor from Cardiology?")).to_be_visible()
    assert Membership.objects.count() == 3  # nothing removed yet
    tab_to(page, "[name=change_reason]")
    page.keyboard.type("Left for another clinic")
    tab_to(page, "[type=submit]")
    expect(page.locator(":focus")).to_have_value("Yes, remove this doctor")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Joined today, so the period is cancelled rather than ended yesterday.
    expect_message(
        page,
        f"Cardiology: period of Dr Bo Sun from {date_format(periods.today())} "
        "cancelled.",
    )
    assert Membership.objects.count() == 2
    assert not Membership.objects.filter(doctor__last_name="Sun").exists()


def test_make_head_by_keyboard_alone(page_as, clinic_staff, cardiology):
    page = page_as(clinic_staff)
    open_member_list(page, cardiology)
    tick_member(page, "Park, Cy")
    run_action(
        page,
        "Make head from the day chosen (the head becomes a member)",
    )
    expect(page.locator("ul.messagelist li").first).to_contain_text("Cy Park")
    head = Membership.objects.get(department=cardiology, role="head")
    assert head.doctor.last_name == "Park"
