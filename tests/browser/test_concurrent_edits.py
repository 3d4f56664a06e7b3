"""Two people editing the same doctor at once: the later save is refused with
who changed the doctor meanwhile, and nothing the first one saved is lost."""

import re

import pytest
from playwright.sync_api import expect

from doctors.models import Doctor
from doctors.roles import CLINIC_STAFF
from tests.browser.pages import ChangeForm, expect_message, form_errors, open_admin
from tests.factories import DoctorFactory, UserFactory

pytestmark = pytest.mark.browser


def test_the_second_of_two_concurrent_saves_gets_the_conflict_message(page_as):
    """Alice and Bob open the same doctor; Alice saves a new phone number; Bob's
    save of an older page is refused with Alice's name, his typing stays on the
    page next to Alice's number, and saving again keeps both changes."""
    alice = UserFactory(username="alice", groups=[CLINIC_STAFF])
    bob = UserFactory(username="bob", groups=[CLINIC_STAFF])
    doctor = DoctorFactory(first_name="Jane", last_name="Roe", phone="")
    alice_page, bob_page = page_as(alice), page_as(bob)
    for page in (alice_page, bob_page):
        open_admin(page, "admin:doctors_doctor_change", doctor.pk)
        expect(page.get_by_role("heading", name="Dr Jane Roe")).to_be_visible()

    alice_form, bob_form = ChangeForm(alice_page), ChangeForm(bob_page)
    alice_form.fill("Phone", "+44 20 7946 0001")
    alice_form.save()
    expect_message(alice_page, "The doctor “Dr Jane Roe” was changed successfully.")

    bob_form.fill("First name", "Janet")
    bob_form.save()
    expect(form_errors(bob_page).filter(has_text="since you opened it")).to_have_text(
        re.compile(
            r"^Dr Jane Roe was changed by alice at .+ since you opened it; "
            r"review and save again\. Fields you did not edit now show their "
            r"stored values\.$"
        )
    )
    expect(bob_form.field("First name")).to_have_value("Janet")
    # Alice's phone number is on Bob's page now, so his next save keeps it.
    expect(bob_form.field("Phone")).to_have_value("+44 20 7946 0001")
    expect(bob_page.locator("ul.messagelist")).to_have_count(0)

    doctor = Doctor.objects.get(pk=doctor.pk)
    assert (doctor.first_name, doctor.phone) == ("Jane", "+44 20 7946 0001")

    bob_form.save()
    expect_message(bob_page, "was changed successfully")
    doctor = Doctor.objects.get(pk=doctor.pk)
    assert (doctor.first_name, doctor.phone) == ("Janet", "+44 20 7946 0001")
