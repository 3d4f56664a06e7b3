"""At 1366x900 with the admin's side menu open (its default), no page scrolls
sideways and no list's table is wider than the space it has: the columns a
person needs fit, long texts are cut (whole on the object's page)."""

import pytest
from django.urls import reverse

from doctors import undo
from doctors.context import acting_as
from doctors.demo import seed_demo
from doctors.models import ChangeSet, Department, Doctor, ImportRun
from tests.test_undo import build_clinic, run_import

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 900}
LONG = "A reason typed at length by someone who explains a great deal " * 4

MEASURE = """
() => {
  const doc = document.documentElement;
  const sidebar = document.getElementById("nav-sidebar");
  const result = {
    page: [doc.scrollWidth, doc.clientWidth],
    sidebarOpen: sidebar !== null && sidebar.getClientRects().length > 0,
    tables: [],
  };
  for (const table of document.querySelectorAll("#content-main table")) {
    if (table.getClientRects().length === 0) continue;
    const box = table.closest(".results") || table.parentElement;
    result.tables.push([
      table.id || table.className || "table",
      Math.ceil(table.getBoundingClientRect().width),
      Math.floor(box.clientWidth),
    ]);
  }
  return result;
}
"""


@pytest.fixture
def clinic(superuser):
    """The demo clinic, with long texts where staff type them."""
    seed_demo(doctors=60, departments=6, password=None)
    doctor = Doctor.objects.order_by("pk").first()
    with acting_as(superuser, source="admin", reason=LONG):
        doctor.specialty = "internal_medicine"
        doctor.save()
    ImportRun.objects.create(
        kind="doctors",
        status="succeeded",
        source="admin",
        file_name="doctors-" + "with-a-very-long-file-name-" * 4 + ".csv",
        user=superuser,
        change_set=ChangeSet.objects.create(source="import", reason=LONG),
    )
    return {"doctor": doctor, "department": Department.objects.order_by("pk").first()}


def pages(clinic) -> dict[str, str]:
    doctor, department = clinic["doctor"], clinic["department"]
    return {
        "feed": reverse("admin:doctors_activityevent_changelist"),
        "import runs": reverse("admin:doctors_importrun_changelist"),
        "change-sets": reverse("admin:doctors_changeset_changelist"),
        "doctors": reverse("admin:doctors_doctor_changelist"),
        "departments": reverse("admin:doctors_department_changelist"),
        "dashboard": reverse("admin:dashboard"),
        "history": reverse("admin:doctors_doctor_history", args=[doctor.pk]),
        "change-set": reverse(
            "admin:doctors_changeset_change", args=[ChangeSet.objects.first().pk]
        ),
        "members on a date": reverse(
            "admin:doctors_department_members_on", args=[department.pk]
        ),
    }


def measure(page, url: str) -> dict:
    page.set_viewport_size(LAPTOP)
    response = page.goto(url)
    assert response.status == 200, url
    return page.evaluate(MEASURE)


def assert_fits(found: dict, name: str) -> None:
    width, client_width = found["page"]
    assert width <= client_width, f"{name}: the page scrolls sideways ({found})"
    too_wide = [t for t in found["tables"] if t[1] > t[2] + 1]
    assert not too_wide, f"{name}: tables wider than their space: {too_wide}"


@pytest.mark.parametrize(
    "name",
    [
        "feed",
        "import runs",
        "change-sets",
        "doctors",
        "departments",
        "dashboard",
        "history",
        "change-set",
        "members on a date",
    ],
)
def test_the_page_fits_a_laptop_with_the_side_menu_open(
    page_as, superuser, clinic, name
):
    page = page_as(superuser)
    found = measure(page, pages(clinic)[name])
    if name != "dashboard":  # the dashboard gives the charts the whole width
        assert found["sidebarOpen"], f"{name}: the side menu is not open"
    assert_fits(found, name)


@pytest.mark.parametrize("scope", ["department", "all"])
def test_the_member_list_fits_a_laptop_with_the_side_menu_open(
    page_as, superuser, clinic, scope
):
    page = page_as(superuser)
    url = reverse("admin:doctors_membership_changelist")
    if scope == "department":
        url += f"?department={clinic['department'].pk}"
    found = measure(page, url)
    assert found["sidebarOpen"], "member list: the side menu is not open"
    assert_fits(found, f"member list ({scope})")


@pytest.mark.parametrize("name", ["import run", "undo preview", "redo preview"])
def test_an_import_run_and_its_undo_fit_a_laptop(page_as, superuser, name):
    """The run's one page (its rows and problems, long texts included) and
    the undo and redo previews."""
    build_clinic()
    run = run_import(user=superuser)
    run.file_name = "doctors-" + "with-a-very-long-file-name-" * 4 + ".csv"
    run.reason = LONG[:255]
    run.preview = [
        [n, f"LIC-{n}", "updated", {"first_name": ["B", LONG], "phone": ["1", "2"]}]
        for n in range(60)
    ]
    run.errors = [[n, "email", LONG] for n in range(60)]
    run.error_count = 60
    run.save()
    if name == "redo preview":
        undo.undo_import(run, user=superuser)
    page = page_as(superuser)
    url = reverse(
        "admin:doctors_importrun_change"
        if name == "import run"
        else "admin:doctors_importrun_undo",
        args=[run.pk],
    )
    found = measure(page, url)
    assert found["sidebarOpen"], f"{name}: the side menu is not open"
    assert found["tables"], f"{name}: no table measured"
    assert_fits(found, name)
