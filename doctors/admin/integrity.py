"""Database constraint violations, told to staff as messages rather than 500s."""

import re

from django.contrib import messages
from django.db import IntegrityError
from django.http import HttpResponseRedirect

CONSTRAINT_MESSAGES = [
    (
        ("membership_one_head_per_department", "doctors_membership.department_id"),
        "That department already has a head.",
    ),
    (
        ("membership_one_primary_per_doctor", "doctors_membership.doctor_id"),
        "That doctor already has a primary department.",
    ),
    (
        (
            "membership_unique_doctor_department",
            "doctors_membership.doctor_id, doctors_membership.department_id",
        ),
        "That doctor is already in that department.",
    ),
    (("doctor_email_unique_ci",), "A doctor with that email already exists."),
    (
        ("doctors_doctor_license_number", "doctors_doctor.license_number"),
        "A doctor with that license number already exists.",
    ),
    (
        ("doctors_department_code", "doctors_department.code"),
        "A department with that code already exists.",
    ),
    (
        ("doctors_department_name", "doctors_department.name"),
        "A department with that name already exists.",
    ),
]


def explain_integrity_error(error: IntegrityError) -> str:
    """A sentence for staff from a database constraint violation."""
    text = str(error)
    sqlite = re.search(r"UNIQUE constraint failed: (.+)$", text)
    for needles, message in CONSTRAINT_MESSAGES:
        for needle in needles:
            if sqlite:
                failed = sqlite.group(1).strip()
                if failed in (needle, f"index '{needle}'"):
                    return message
            elif needle in text:
                return message
    return "The change conflicts with data saved meanwhile."


class ConstraintSafeAdminMixin:
    """Turns a constraint violation that slipped past validation into a message.

    Form validation catches duplicates and second heads, but two staff saving at
    the same moment can both pass it; the database then refuses the second save,
    and the user should read why rather than meet a server error.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError as error:
            self.message_user(
                request,
                f"Nothing was saved: {explain_integrity_error(error)} "
                "Someone may have saved a change at the same time; please review.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
