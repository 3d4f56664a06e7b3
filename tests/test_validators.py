"""Rules on single values (doctors/validators.py), by every road they are used:
names without invisible characters, dates within the clinic's range."""

import datetime
import io
import unicodedata

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from doctors.importing.runner import import_doctors
from doctors.models import Doctor, Membership
from doctors.validators import (
    date_range_problem,
    validate_date_in_range,
    validate_single_line,
)
from tests.admin_forms import doctor_form, membership_row
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.test_members import members_url, row_post

BIDI_AND_INVISIBLE = [
    "\u202e",  # right-to-left override
    "\u202d",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u200b",  # zero-width space
    "\u200e",
    "\u200f",
    "\u2066",  # isolates
    "\u2067",
    "\u2068",
    "\u2069",
    "\ufeff",  # byte-order mark
]


def refused_at(text: str) -> int | None:
    """Where the single-line rule must stop: the first control character (C0,
    C1, line and paragraph separators) or format character (category Cf)."""
    for position, character in enumerate(text):
        if (
            ord(character) < 0x20
            or 0x7F <= ord(character) <= 0x9F
            or character in "\u2028\u2029"
            or unicodedata.category(character) == "Cf"
        ):
            return position + 1
    return None


class TestSingleLine:
    # Any text, with control and format characters (rare in plain st.text())
    # mixed in often.
    @given(
        st.text(
            st.one_of(
                st.characters(),
                st.characters(categories=["Cf", "Cc", "Zl", "Zp"]),
                st.sampled_from(BIDI_AND_INVISIBLE),
            ),
            max_size=40,
        )
    )
    def test_refuses_exactly_control_and_format_characters(self, text):
        expected = refused_at(text)
        if expected is None:
            validate_single_line(text)
            return
        with pytest.raises(ValidationError) as caught:
            validate_single_line(text)
        (message,) = caught.value.messages
        assert message.endswith(f" at character {expected}.")

    @pytest.mark.parametrize("character", BIDI_AND_INVISIBLE)
    def test_each_invisible_character_is_named(self, character):
        with pytest.raises(ValidationError) as caught:
            validate_single_line(f"Ann{character}Lee")
        (message,) = caught.value.messages
        assert message.startswith("Must be on one line without control characters")
        assert f"(U+{ord(character):04X}) at character 4." in message

    def test_the_override_reads_as_staff_understand_it(self):
        with pytest.raises(ValidationError) as caught:
            validate_single_line("\u202eeeL nnA")
        assert caught.value.messages == [
            "Must be on one line without control characters: found a right-to-left "
            "override (U+202E) at character 1."
        ]

    def test_letters_and_marks_of_every_script_pass(self):
        for name in ["Zoë O'Brien-Łukasz", "مريم", "אבי", "李小龙", "Ngũgĩ", "नमस्ते"]:
            validate_single_line(name)


@pytest.mark.django_db
class TestInvisibleCharactersByEveryRoad:
    def test_the_doctor_page_refuses_a_right_to_left_override(self, staff_client):
        data = doctor_form(last_name="Lee\u202e")
        response = staff_client.post(reverse("admin:doctors_doctor_add"), data)
        assert response.status_code == 200
        assert "right-to-left override (U+202E)" in response.content.decode()
        assert not Doctor.objects.exists()

    def test_the_importer_names_the_row_and_column(self):
        DepartmentFactory(code="CARD", name="Cardiology")
        header = (
            "license_number,first_name,last_name,email,phone,specialty,departments,"
            "is_active"
        )
        line = "LIC-1,Ann,\u2066Lee\u2069,ann@clinic.test,,Cardiology,CARD,"
        result = import_doctors(
            io.BytesIO(f"{header}\r\n{line}\r\n".encode()), file_name="x.csv"
        )
        assert not result.ok
        (problem,) = result.problems
        assert (problem.row, problem.column) == (2, "last_name")
        assert "left-to-right isolate (U+2066) at character 1" in problem.message
        assert not Doctor.objects.exists()


class TestDateRange:
    @pytest.mark.parametrize(
        "day", [datetime.date(1900, 1, 1), datetime.date(2026, 3, 1)]
    )
    def test_inside(self, day):
        validate_date_in_range(day)

    @pytest.mark.parametrize(
        "day", [datetime.date(1, 1, 1), datetime.date(1899, 12, 31)]
    )
    def test_before(self, day):
        with pytest.raises(ValidationError, match="outside the dates"):
            validate_date_in_range(day)

    def test_after_names_the_date_and_the_range(self):
        assert date_range_problem(datetime.date(9999, 12, 31)) == (
            "31 December 9999 is outside the dates the clinic accepts "
            "(1 January 1900 to 31 December 2200)."
        )

    def test_the_range_is_a_setting(self):
        with override_settings(
            CLINIC_EARLIEST_DATE=datetime.date(2000, 1, 1),
            CLINIC_LATEST_DATE=datetime.date(2030, 12, 31),
        ):
            assert date_range_problem(datetime.date(2031, 1, 1)) is not None
            assert date_range_problem(datetime.date(2030, 12, 31)) is None


@pytest.mark.django_db
class TestDatesByEveryRoad:
    def test_the_member_list_refuses_a_far_joining_date(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        row = MembershipFactory(department=department)
        stored = row.joined_on
        response = staff_client.post(
            members_url(department), row_post(row, joined_on="9999-12-31")
        )
        assert response.status_code == 200
        assert "31 December 9999 is outside the dates" in response.content.decode()
        row.refresh_from_db()
        assert row.joined_on == stored

    def test_the_doctor_page_refuses_a_year_one_joining_date(self, staff_client):
        department = DepartmentFactory()
        data = doctor_form(
            rows=[
                membership_row(
                    other=department.pk, side="department", joined_on="0001-01-01"
                )
            ]
        )
        response = staff_client.post(reverse("admin:doctors_doctor_add"), data)
        assert response.status_code == 200
        assert "1 January 0001 is outside the dates" in response.content.decode()
        assert not Membership.objects.exists()

    def test_add_doctors_refuses_a_far_date(self, staff_client):
        department = DepartmentFactory()
        doctor = DoctorFactory()
        response = staff_client.post(
            reverse("admin:doctors_membership_add_doctors"),
            {
                "department": department.pk,
                "doctors": [doctor.pk],
                "joined_on": "2999-01-01",
            },
        )
        assert response.status_code == 200
        assert "1 January 2999 is outside the dates" in response.content.decode()
        assert not Membership.objects.exists()

    @pytest.mark.parametrize("query", ["", "&format=csv"])
    def test_members_on_a_far_date_is_a_form_error(self, staff_client, query):
        department = DepartmentFactory()
        url = reverse("admin:doctors_department_members_on", args=[department.pk])
        response = staff_client.get(f"{url}?on=9999-12-31{query}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        assert "31 December 9999 is outside the dates" in response.content.decode()

    def test_the_model_refuses_a_far_date(self):
        """Every model form validates the field: the rule is on the model."""
        row = MembershipFactory()
        row.joined_on = datetime.date(9999, 12, 31)
        with pytest.raises(ValidationError) as caught:
            row.full_clean()
        assert caught.value.message_dict == {
            "joined_on": [
                "31 December 9999 is outside the dates the clinic accepts "
                "(1 January 1900 to 31 December 2200)."
            ]
        }
