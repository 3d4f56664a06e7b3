"""The 403, 404 and 500 pages (clinic/errors.py): the admin's look, a way back,
and for 403 what the person lacks."""

import pytest
from django.test import Client
from django.urls import path, reverse

from clinic import errors
from clinic.urls import urlpatterns as clinic_urlpatterns
from doctors.models import ChangeSet
from tests.factories import DepartmentFactory, DoctorFactory


def broken_view(request):
    raise RuntimeError("the database went away")


urlpatterns = [*clinic_urlpatterns, path("broken/", broken_view)]
handler403 = "clinic.errors.permission_denied"
handler404 = "clinic.errors.page_not_found"
handler500 = "clinic.errors.server_error"


def test_a_manager_only_page_says_who_sees_it(client, clinic_staff):
    """Clinic staff opening the dashboard read who may see it, inside the
    admin's frame, with their menu and a link home."""
    client.force_login(clinic_staff)
    response = client.get(reverse("admin:dashboard"))
    assert response.status_code == 403
    body = response.content.decode()
    assert "Only managers and superusers see the dashboard." in body
    assert 'id="header"' in body and 'id="nav-sidebar"' in body
    assert "Clinic admin" in body
    assert f'href="{reverse("admin:index")}"' in body
    assert "Log out" in body


def test_a_model_page_without_permission_names_the_records(client, manager):
    """A manager may view doctors but not add them: the 403 page says so in the
    model's verbose name."""
    client.force_login(manager)
    response = client.get(reverse("admin:doctors_doctor_add"))
    assert response.status_code == 403
    assert "Your account may not add doctors." in response.content.decode()


def test_reverting_without_permission_says_what_is_missing(client, manager):
    doctor = DoctorFactory()
    client.force_login(manager)
    response = client.get(reverse("admin:doctors_doctor_revert", args=[doctor.pk]))
    assert response.status_code == 403
    assert (
        "Reverting needs permission to change doctors and their memberships."
        in response.content.decode()
    )


def test_an_unknown_page_is_a_404_with_a_way_home(client, clinic_staff):
    client.force_login(clinic_staff)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert "/no-such-page/" in body
    assert "Go to the admin's home page" in body
    assert 'id="nav-sidebar"' in body


def test_an_unknown_admin_page_is_the_same_404(client, clinic_staff):
    client.force_login(clinic_staff)
    response = client.get("/admin/doctors/nothing-here/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_the_server_error_page_needs_no_database(db, rf, django_assert_num_queries):
    """The 500 page makes no query: the database may be what failed."""
    with django_assert_num_queries(0):
        response = errors.server_error(rf.get("/broken/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


@pytest.mark.urls(__name__)
def test_a_server_error_shows_the_admin_frame_and_a_way_home(db, clinic_staff):
    """A crash in a view shows the admin's frame, no traceback, a link home."""
    client = Client(raise_request_exception=False)
    client.force_login(clinic_staff)
    response = client.get("/broken/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body
    assert "error on the server" in body
    assert 'href="/admin/"' in body
    assert "the database went away" not in body


def test_no_view_on_site_link_leads_back_to_the_same_page(client, superuser):
    """Doctors, departments and change-sets live in the admin: their pages offer
    no "View on site" that would loop back to themselves."""
    doctor = DoctorFactory()
    department = DepartmentFactory()
    change_set = ChangeSet.objects.create(source="admin", description="A change")
    client.force_login(superuser)
    for url in [
        reverse("admin:doctors_doctor_change", args=[doctor.pk]),
        reverse("admin:doctors_department_change", args=[department.pk]),
        reverse("admin:doctors_changeset_change", args=[change_set.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "viewsitelink" not in response.content.decode(), url
