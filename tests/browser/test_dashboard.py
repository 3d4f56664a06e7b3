"""The manager dashboard in a real browser."""

import re

import pytest
from playwright.sync_api import expect

from doctors.models import Doctor, Membership
from tests.browser.accessibility import assert_accessible
from tests.browser.pages import changelist_rows
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def clinic():
    """Two departments: Cardiology with three doctors, Neurology with one."""
    cardiology = DepartmentFactory(name="Cardiology")
    neurology = DepartmentFactory(name="Neurology")
    for index in range(3):
        doctor = DoctorFactory(last_name=f"Heart{index}")
        MembershipFactory(doctor=doctor, department=cardiology, is_primary=True)
    MembershipFactory(
        doctor=DoctorFactory(last_name="Brain"), department=neurology, is_primary=True
    )
    return cardiology, neurology


def test_a_manager_reads_the_dashboard_filters_it_and_follows_a_bar(
    page_as, manager, clinic
):
    """Charts are drawn with their numbers, the figures match the database, the
    department filter narrows the page, and a bar opens that department's list."""
    cardiology, neurology = clinic
    page = page_as(manager)
    page.goto("/admin/dashboard/")

    expect(page.get_by_role("heading", name="Figures")).to_be_visible()
    expect(page.locator("#figure-active-doctors")).to_have_text(
        str(Doctor.objects.filter(is_active=True).count())
    )
    expect(page.locator("#figure-memberships")).to_have_text(
        str(Membership.objects.count())
    )
    chart = page.locator("svg#department-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("rect")).to_have_count(2)
    # The chart's text alternative carries the numbers.
    label = chart.get_attribute("aria-label")
    assert "Cardiology" in label and "3" in label, label
    assert_accessible(page)

    page.get_by_label("Department", exact=True).select_option(label="Neurology")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert f"department={neurology.pk}" in page.url
    expect(page.get_by_label("Department", exact=True)).to_have_value(str(neurology.pk))

    with page.expect_navigation():
        chart.locator("a", has=page.locator("title", has_text="Cardiology")).click()
    assert re.search(rf"departments__id__exact={cardiology.pk}\b", page.url)
    expect(changelist_rows(page)).to_have_count(3)
    expect(changelist_rows(page).filter(has_text="Brain")).to_have_count(0)


def test_clinic_staff_without_the_manager_role_get_403(page_as, clinic_staff):
    """The dashboard is for managers: clinic staff are refused."""
    response = page_as(clinic_staff).goto("/admin/dashboard/")
    assert response.status == 403


def test_from_and_to_appear_only_for_a_custom_range(page_as, manager, clinic):
    """A preset period shows no From/To fields; choosing "Custom range" brings
    them up at once. The chart's legend has its colour swatches and no bullets."""
    page = page_as(manager)
    page.goto("/admin/dashboard/")
    expect(page.get_by_label("From", exact=True)).to_be_hidden()
    expect(page.get_by_label("To", exact=True)).to_be_hidden()
    page.get_by_label("Period").select_option(label="Custom range")
    expect(page.get_by_label("From", exact=True)).to_be_visible()
    expect(page.get_by_label("To", exact=True)).to_be_visible()
    page.get_by_label("Period").select_option(label="Last 7 days")
    expect(page.get_by_label("From", exact=True)).to_be_hidden()
    markers = page.locator(".dashboard-legend li").evaluate_all(
        "items => items.map(item => getComputedStyle(item).listStyleType)"
    )
    assert markers == ["none"] * 4
