"""doctors/admin/rows.py: list rows rendered directly produce Django's markup."""

import pytest
from django.contrib.admin import site
from django.contrib.admin.options import ModelAdmin
from django.urls import reverse
from django.utils.http import urlencode

from doctors.models import Doctor, Membership
from tests.factories import DoctorFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [Doctor, Membership])
def test_action_checkbox_is_djangos_markup(model):
    doctor = DoctorFactory(first_name='<b>"Ann"</b>', last_name="O'Neil & Co")
    obj = doctor if model is Doctor else MembershipFactory(doctor=doctor)
    model_admin = site._registry[model]
    ours = model_admin.action_checkbox(obj)
    assert ours == ModelAdmin.action_checkbox(model_admin, obj)
    assert "<b>" not in ours


def test_doctor_list_rows_can_be_selected(staff_client):
    doctor = DoctorFactory()
    response = staff_client.get(reverse("admin:doctors_doctor_changelist"))
    assert (
        f'<input type="checkbox" name="_selected_action" value="{doctor.pk}" '
        'class="action-select"'
    ) in response.content.decode()


@pytest.mark.parametrize("params", [{}, {"q": "Kowal", "specialty": "cardiology"}])
def test_doctor_row_links_keep_the_list_filters(staff_client, params):
    """Each row links to its change page with the list's filters, as Django
    links them (so that saving returns to the same list), twice per row."""
    doctor = DoctorFactory(last_name="Kowalski", specialty="cardiology")
    url = reverse("admin:doctors_doctor_changelist")
    response = staff_client.get(url, params)
    change = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    if params:
        query = urlencode(params)
        change += "?" + urlencode({"_changelist_filters": query})
    html = response.content.decode()
    assert html.count(f'<a href="{change}">') == 2
    assert response.context["preserved_filters"] == (
        urlencode({"_changelist_filters": urlencode(params)}) if params else ""
    )
