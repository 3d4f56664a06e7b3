"""doctors/admin/rows.py: list rows rendered directly produce Django's markup."""

import pytest
from django.contrib.admin import site
from django.contrib.admin.options import ModelAdmin
from django.urls import reverse

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
