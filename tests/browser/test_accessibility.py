"""The accessibility basics check (tests/browser/accessibility.py), on a page made
to break every rule it knows and on the doctor change form."""

import pytest
from playwright.sync_api import expect

from tests.browser.accessibility import accessibility_problems, assert_accessible
from tests.browser.pages import open_admin
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

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
