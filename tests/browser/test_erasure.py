"""Erasing a departed doctor's personal data in a real browser, then reading
the feed and the department's past members."""

import datetime

import pytest
from playwright.sync_api import expect

from doctors.context import acting_as
from doctors.ledger.verify import verify
from doctors.models import Doctor, Membership
from tests.browser.accessibility import assert_accessible
from tests.browser.pages import changelist_rows, expect_message, open_admin
from tests.factories import DepartmentFactory, DoctorFactory, UserFactory

pytestmark = pytest.mark.browser


def _at(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)


@pytest.fixture
def departed(settings, tmp_path):
    """Zebulon Quartermaine was in Cardiology in 2020 and left in 2021; Ada
    Byron is still there. The history is staged in the past before its
    change-set is sealed, so the chain holds it as it is."""
    settings.ERASURE_REPLAY_FILE = str(tmp_path / "erasures.jsonl")
    with acting_as(description="The clinic's past"):
        cardiology = DepartmentFactory(code="CARD", name="Cardiology")
        zebulon = DoctorFactory(
            first_name="Zebulon",
            last_name="Quartermaine",
            license_number="QX-774411",
            email="zebulon.q@clinic.test",
            is_active=False,
        )
        ada = DoctorFactory(first_name="Ada", last_name="Byron")
        Doctor.history.update(history_date=_at(datetime.date(2019, 6, 1)))
        Membership.objects.create(
            doctor=ada, department=cardiology, joined_on=datetime.date(2019, 7, 1)
        )
        left = Membership.objects.create(
            doctor=zebulon,
            department=cardiology,
            role=Membership.Role.HEAD,
            joined_on=datetime.date(2020, 1, 1),
        )
        Membership.history.update(history_date=_at(datetime.date(2020, 1, 1)))
        left.delete()
        Membership.history.filter(history_type="-").update(
            history_date=_at(datetime.date(2021, 6, 30))
        )
    return {"department": cardiology, "doctor": zebulon}


def test_an_administrator_erases_a_departed_doctor(page_as, departed):
    """The administrator picks "Erase personal data" on the doctor list, gives
    the reason on the confirmation page, and the doctor is gone from the feed
    and from the department's past members, which still count them, as
    "Erased doctor #N" and with their role."""
    doctor = departed["doctor"]
    label = f"Erased doctor #{doctor.pk}"
    page = page_as(UserFactory(username="dpo", is_superuser=True))
    open_admin(page, "admin:doctors_doctor_changelist")
    row = changelist_rows(page).filter(has_text="Quartermaine")
    row.locator("input.action-select").check()
    page.locator("select[name=action]").first.select_option(
        label="Erase personal data of selected doctors"
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Run").first.click()
    expect(page.locator("#erased-doctors")).to_contain_text("Quartermaine")
    expect(page.locator("#content")).to_contain_text("cannot be undone")
    assert_accessible(page)
    page.get_by_label("Reason").fill("Asked to be forgotten (GDPR art. 17)")
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, erase their personal data").click()
    expect_message(page, f"Personal data erased: {label}.")
    expect(page.locator("#content")).not_to_contain_text("Quartermaine")

    # The feed: what happened to the doctor, under the new name, and the
    # erasure itself (who and why, not what).
    open_admin(page, "admin:doctors_activityevent_changelist")
    feed = page.locator("#result_list")
    expect(feed).to_contain_text(label)
    expect(feed).to_contain_text("Personal data erased")
    expect(feed).not_to_contain_text("Quartermaine")
    expect(feed).not_to_contain_text("Zebulon")

    # The department's members on a day in 2020: still two, the erased
    # doctor as head of department.
    department = departed["department"]
    open_admin(page, "admin:doctors_department_change", department.pk)
    with page.expect_navigation():
        page.get_by_role("link", name="Members on a date").click()
    page.get_by_label("Who was a member on").fill("2020-03-01")
    # The departed doctor's row was deleted (staged the way leaving was
    # recorded before periods): the records of that day still hold it.
    page.get_by_label("As the records stood on").fill("2020-03-01")
    with page.expect_navigation():
        page.get_by_role("button", name="Show members").click()
    expect(page.locator("#members-count")).to_contain_text("2 members on")
    members = page.locator("#members_on_date tbody tr")
    erased = members.filter(has_text=label)
    expect(erased).to_have_count(1)
    expect(erased).to_contain_text("Head of department")
    expect(page.locator("#members_on_date")).to_contain_text("Ada Byron")
    expect(page.locator("#content")).not_to_contain_text("Quartermaine")
    assert verify().ok
