"""Database constraint violations, told as a sentence staff understand.

Used by the admin (a save that lost a race) and the importer (a write that hit
a constraint after its checks passed): the rule lives below both.
"""

import re

from django.db import IntegrityError

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
