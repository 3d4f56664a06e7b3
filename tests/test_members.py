"""Member management (doctors/admin/member_list/): department page, member list."""

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.formats import date_format

from doctors import activity, concurrency, dashboard, periods
from doctors.admin.member_list import ROW_VERSION
from doctors.ledger.chain import SEAL_QUERIES
from doctors.models import ActivityEvent, ChangeSet, Department, Doctor, Membership
from tests.admin_forms import as_post_data, submitted_fields
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:doctors_membership_changelist")
ADD_URL = reverse("admin:doctors_membership_add_doctors")


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def membership_events():
    return sorted(
        (e.verb, e.target_text, e.department_text)
        for e in ActivityEvent.objects.filter(verb__startswith="membership_")
    )


def history_count() -> int:
    return Membership.history.count()


def members_url(department, **params) -> str:
    scope = {"department": department.pk} if department is not None else {}
    query = "&".join(f"{k}={v}" for k, v in {**scope, **params}.items())
    return f"{LIST_URL}?{query}"


def department_with_members(count: int, *, name="Cardiology"):
    department = DepartmentFactory(name=name)
    doctors = Doctor.objects.bulk_create(
        Doctor(
            license_number=f"LIC-{name[:3]}-{index:05d}",
            first_name=f"First{index:05d}",
            last_name=f"Last{index:05d}",
            email=f"{name[:3]}{index}@clinic.test",
            specialty="cardiology",
        )
        for index in range(count)
    )
    Membership.objects.bulk_create(
        Membership(doctor=doctor, department=department) for doctor in doctors
    )
    return department


def row_post(membership: Membership, **changes) -> dict:
    """The member list's form as sent after editing one row (the only one
    posted): its first and last day."""
    values = {
        "joined_on": membership.joined_on.isoformat(),
        "left_on": membership.left_on.isoformat() if membership.left_on else "",
        **changes,
    }
    return {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(membership.pk),
        "form-0-joined_on": values["joined_on"],
        "form-0-left_on": values["left_on"],
        ROW_VERSION.format(membership.pk): concurrency.version_of(membership),
        "_save": "Save",
    }


def rows_post(*rows: tuple[Membership, dict]) -> dict:
    data = {
        "form-TOTAL_FORMS": str(len(rows)),
        "form-INITIAL_FORMS": str(len(rows)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, (membership, changes) in enumerate(rows):
        one = row_post(membership, **changes)
        for key, value in one.items():
            if "-0-" in key or key.startswith("row-version"):
                data[key.replace("form-0-", f"form-{index}-")] = value
    return data


class TestDepartmentPage:
    def test_shows_count_head_and_a_link_instead_of_member_rows(self, staff_client):
        department = department_with_members(3)
        head = DoctorFactory(first_name="Grace", last_name="Hopper")
        MembershipFactory(department=department, doctor=head, role="head")
        url = reverse("admin:doctors_department_change", args=[department.pk])
        content = staff_client.get(url).content.decode()
        assert "4 members" in content
        assert members_url(department).replace("&", "&amp;") in content or (
            f"?department={department.pk}" in content
        )
        assert "Dr Grace Hopper" in content
        assert "memberships-TOTAL_FORMS" not in content
        assert "Last00001" not in content

    @pytest.mark.parametrize("members", [5, 300])
    def test_open_and_save_cost_the_same_whatever_the_size(self, staff_client, members):
        department = department_with_members(members)
        url = reverse("admin:doctors_department_change", args=[department.pk])
        # The admin log's content type is cached per process: warm it, so the
        # counts are the same whether this test runs alone or in the suite.
        ContentType.objects.get_for_model(Department)
        with CaptureQueriesContext(connection) as opened:
            page = staff_client.get(url)
        assert page.status_code == 200
        data = as_post_data(submitted_fields(page.content.decode(), "department_form"))
        data["description"] = [f"Now with {members} members"]
        with CaptureQueriesContext(connection) as saved:
            response = staff_client.post(url, data)
        assert response.status_code == 302
        # Same numbers for 5 and 300 members.
        assert (len(opened), len(saved)) == (DEPARTMENT_OPEN, DEPARTMENT_SAVE)

    def test_a_500_member_department_saves_at_django_default_limits(
        self, staff_client, settings
    ):
        assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS == 1000
        department = department_with_members(500)
        url = reverse("admin:doctors_department_change", args=[department.pk])
        page = staff_client.get(url)
        fields = submitted_fields(page.content.decode(), "department_form")
        data = as_post_data(fields)
        data["description"] = ["Heart & vessels"]
        response = staff_client.post(url, data)
        assert response.status_code == 302
        department.refresh_from_db()
        assert department.description == "Heart & vessels"
        assert Membership.objects.filter(department=department).count() == 500


# Queries to open / save a department page, whatever its number of members.
DEPARTMENT_OPEN = 7
# The save includes opening and closing the request's change-set (and sealing
# it into the history chain).
DEPARTMENT_SAVE = 17 + SEAL_QUERIES


class TestMemberList:
    @pytest.mark.parametrize("members", [20, 300])
    def test_a_page_costs_the_same_whatever_the_size(self, staff_client, members):
        department = department_with_members(members)
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(members_url(department))
        assert response.status_code == 200
        assert len(queries) == MEMBER_LIST_QUERIES
        # At most a page of rows: about six POST fields each, far below 1000.
        assert len(response.context["cl"].result_list) == min(members, 50)

    def test_search_by_name_and_license_prefix(self, staff_client):
        department = department_with_members(30)
        response = staff_client.get(members_url(department, q="Last00012"))
        assert [m.doctor.last_name for m in response.context["cl"].result_list] == [
            "Last00012"
        ]
        response = staff_client.get(members_url(department, q="lic-car-0001"))
        names = [m.doctor.last_name for m in response.context["cl"].result_list]
        assert names == [f"Last{n:05d}" for n in range(10, 20)]
        # A license is matched from its start only.
        response = staff_client.get(members_url(department, q="car-0001"))
        assert list(response.context["cl"].result_list) == []

    def test_filters_role_primary_and_active(self, staff_client):
        department = department_with_members(5)
        first, second, *_ = Membership.objects.filter(department=department).order_by(
            "doctor__last_name"
        )
        first.role = "head"
        first.save()
        second.is_primary = True
        second.save()
        Doctor.objects.filter(pk=second.doctor_id).update(is_active=False)

        def listed(**params):
            response = staff_client.get(members_url(department, **params))
            return [m.pk for m in response.context["cl"].result_list]

        assert listed(role="head") == [first.pk]
        assert listed(is_primary__exact="1") == [second.pk]
        assert listed(doctor__is_active__exact="0") == [second.pk]
        # An inactive doctor is marked beside the name.
        page = staff_client.get(members_url(department)).content.decode()
        assert page.count('<span class="inactive">(inactive)</span>') == 1
        assert len(listed(o="-2")) == 5

    def test_managers_see_the_list_but_cannot_edit(self, client, manager):
        department = department_with_members(3)
        client.force_login(manager)
        response = client.get(members_url(department))
        assert response.status_code == 200
        assert 'name="form-0-role"' not in response.content.decode()
        assert 'id="add-doctors-form"' not in response.content.decode()


MEMBER_LIST_QUERIES = 8


class TestEditsInTheList:
    def test_correcting_a_first_day_is_one_event_one_history_row_one_message(
        self, staff_client
    ):
        department = DepartmentFactory(name="Cardiology")
        membership = MembershipFactory(
            department=department,
            joined_on=datetime.date(2026, 3, 1),
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        ActivityEvent.objects.all().delete()
        before = history_count()
        response = staff_client.post(
            members_url(department),
            row_post(membership, joined_on="2026-03-03"),
            follow=True,
        )
        assert messages_of(response) == [
            "Cardiology: Dr Ann Lee's period corrected: first day 1 Mar 2026 → "
            "3 Mar 2026."
        ]
        (event,) = ActivityEvent.objects.filter(verb="membership_changed")
        assert event.changes["period_event"] == [None, "corrected"]
        assert activity.summarize(event) == (
            "Corrected in Cardiology: first day 1 Mar 2026 → 3 Mar 2026"
        )
        assert history_count() == before + 1
        membership.refresh_from_db()
        assert membership.joined_on == datetime.date(2026, 3, 3)

    def test_a_last_day_set_in_place_is_a_correction_of_the_period(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        membership = MembershipFactory(
            department=department,
            joined_on=datetime.date(2020, 1, 1),
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        response = staff_client.post(
            members_url(department),
            row_post(membership, left_on="2030-06-30"),
            follow=True,
        )
        assert messages_of(response) == [
            "Cardiology: Dr Ann Lee's period corrected: last day — → 30 Jun 2030."
        ]
        membership.refresh_from_db()
        assert membership.left_on == datetime.date(2030, 6, 30)

    def test_a_correction_overlapping_another_period_names_it(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        ann = DoctorFactory(first_name="Ann", last_name="Lee")
        MembershipFactory(
            department=department,
            doctor=ann,
            joined_on=datetime.date(2020, 1, 1),
            left_on=datetime.date(2020, 12, 31),
        )
        current = MembershipFactory(
            department=department, doctor=ann, joined_on=datetime.date(2022, 1, 1)
        )
        events = ActivityEvent.objects.count()
        response = staff_client.post(
            members_url(department), row_post(current, joined_on="2020-06-01")
        )
        assert response.status_code == 200
        assert "Dr Ann Lee is already in Cardiology 1 Jan 2020 to 31 Dec 2020." in str(
            response.context["cl"].formset.errors
        )
        current.refresh_from_db()
        assert current.joined_on == datetime.date(2022, 1, 1)
        assert ActivityEvent.objects.count() == events

    def test_a_last_day_before_the_first_is_a_row_error(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        membership = MembershipFactory(
            department=department, joined_on=datetime.date(2022, 1, 1)
        )
        response = staff_client.post(
            members_url(department), row_post(membership, left_on="2021-12-31")
        )
        assert response.status_code == 200
        assert "The last day cannot be before the first day." in str(
            response.context["cl"].formset.errors
        )
        membership.refresh_from_db()
        assert membership.left_on is None

    def test_the_list_shows_first_and_last_days_and_no_ended_periods(
        self, staff_client
    ):
        department = DepartmentFactory(name="Cardiology")
        MembershipFactory(
            department=department,
            joined_on=datetime.date(2019, 1, 1),
            left_on=datetime.date(2020, 1, 1),
            doctor=DoctorFactory(first_name="Old", last_name="Leaver"),
        )
        MembershipFactory(
            department=department,
            joined_on=datetime.date(2021, 1, 1),
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        response = staff_client.get(members_url(department))
        content = response.content.decode()
        assert "Leaver" not in content
        assert "Lee, Ann" in content
        assert ">First day<" in content and ">Last day<" in content
        assert 'value="2021-01-01"' in content

    def test_a_row_changed_since_the_page_was_opened_is_not_overwritten(
        self, staff_client
    ):
        department = DepartmentFactory(name="Cardiology")
        membership = MembershipFactory(
            department=department,
            joined_on=datetime.date(2021, 1, 1),
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        opened = row_post(membership, joined_on="2020-02-02")
        membership.joined_on = datetime.date(2021, 2, 1)  # someone else, meanwhile
        membership.save()
        response = staff_client.post(members_url(department), opened)
        assert response.status_code == 200
        assert "was changed by a system process at" in str(
            response.context["cl"].formset.errors
        )
        # The row shows what is stored now, so saving again cannot undo it.
        row = response.context["cl"].formset.forms[0]
        assert row["joined_on"].value() == "2021-02-01"
        membership.refresh_from_db()
        assert membership.joined_on == datetime.date(2021, 2, 1)

    def test_the_list_as_a_browser_sends_it_saves_a_page_of_rows(self, staff_client):
        department = department_with_members(150)
        url = members_url(department)
        page = staff_client.get(url)
        fields = submitted_fields(page.content.decode(), "changelist-form")
        assert len(fields) < 1000
        data = as_post_data(fields)
        data["form-3-joined_on"] = ["2019-09-09"]
        data["_save"] = ["Save"]
        response = staff_client.post(url, data, follow=True)
        assert response.status_code == 200
        (message,) = messages_of(response)
        assert message.startswith("Cardiology: Dr First")
        assert "period corrected: first day" in message
        assert Membership.objects.filter(joined_on="2019-09-09").count() == 1


def today_text() -> str:
    return date_format(periods.today())


class TestActions:
    def post_action(self, client, department, action, memberships, **extra):
        """The action as the list sends it; a removal as its confirmation page
        sends it (post=yes, with the last day it offers: yesterday)."""
        data = {
            "action": action,
            "_selected_action": [m.pk for m in memberships],
            "index": "0",
            **(
                {"post": "yes", "last_day": periods.yesterday().isoformat()}
                if action == "remove_selected"
                else {}
            ),
            **extra,
        }
        return client.post(members_url(department), data, follow=True)

    def test_a_repeated_action_changes_nothing_and_says_what_was_done(
        self, staff_client
    ):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(
            department=department,
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        expected = {
            "make_head": f"Dr Ann Lee is already head of Cardiology on {today_text()}.",
            "set_primary": "Cardiology is already the primary department of "
            f"Dr Ann Lee on {today_text()}.",
            # Joined today: removing cancels the period.
            "remove_selected": "Dr Ann Lee was already removed from Cardiology.",
        }
        for action, already in expected.items():
            seen = {ROW_VERSION.format(ann.pk): concurrency.version_of(ann)}
            self.post_action(staff_client, department, action, [ann], **seen)
            events = ActivityEvent.objects.count()
            response = self.post_action(staff_client, department, action, [ann], **seen)
            assert messages_of(response) == [already]
            assert ActivityEvent.objects.count() == events

    def test_a_repeated_removal_says_when_they_left(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(
            department=department,
            joined_on=datetime.date(2020, 1, 1),
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        seen = {ROW_VERSION.format(ann.pk): concurrency.version_of(ann)}
        self.post_action(staff_client, department, "remove_selected", [ann], **seen)
        events = ActivityEvent.objects.count()
        response = self.post_action(
            staff_client, department, "remove_selected", [ann], **seen
        )
        assert messages_of(response) == [
            f"Dr Ann Lee already left Cardiology on {date_format(periods.yesterday())}."
        ]
        assert ActivityEvent.objects.count() == events

    def test_a_row_changed_since_the_page_was_opened_is_refused_by_name(
        self, staff_client
    ):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(
            department=department,
            is_primary=True,
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        seen = {ROW_VERSION.format(ann.pk): concurrency.version_of(ann)}
        ann.joined_on = datetime.date(2020, 2, 2)
        ann.save()
        events = ActivityEvent.objects.count()
        response = self.post_action(
            staff_client, department, "unset_primary", [ann], **seen
        )
        (message,) = messages_of(response)
        assert message.startswith(
            "Nothing was changed: Dr Ann Lee in Cardiology was changed by "
        )
        assert message.endswith(
            "since you opened this page. The list now shows what is stored; "
            "choose again."
        )
        assert ActivityEvent.objects.count() == events
        assert Membership.objects.get(pk=ann.pk).is_primary

    def test_a_repeated_in_place_edit_is_saved_once(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(
            department=department,
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        data = row_post(ann, joined_on="2021-06-01")
        first = staff_client.post(members_url(department), data, follow=True)
        (message,) = messages_of(first)
        assert message.startswith("Cardiology: Dr Ann Lee's period corrected")
        events = ActivityEvent.objects.count()
        response = staff_client.post(members_url(department), data, follow=True)
        assert messages_of(response) == [
            "Already saved, left as it is: Dr Ann Lee in Cardiology."
        ]
        assert ActivityEvent.objects.count() == events

    def test_remove_selected_ends_their_periods_yesterday(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        started = datetime.date(2020, 1, 1)
        ann = MembershipFactory(
            department=department,
            joined_on=started,
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        bo = MembershipFactory(
            department=department,
            joined_on=started,
            doctor=DoctorFactory(first_name="Bo", last_name="Sun"),
        )
        kept = MembershipFactory(department=department)
        ActivityEvent.objects.all().delete()
        before = history_count()
        response = self.post_action(
            staff_client, department, "remove_selected", [ann, bo]
        )
        yesterday = periods.yesterday()
        assert messages_of(response) == [
            f"Cardiology: Dr Ann Lee, Dr Bo Sun left on {date_format(yesterday)}."
        ]
        assert membership_events() == [
            ("membership_removed", "Dr Ann Lee", "Cardiology"),
            ("membership_removed", "Dr Bo Sun", "Cardiology"),
        ]
        event = ActivityEvent.objects.filter(target_text="Dr Ann Lee").get()
        assert activity.summarize(event) == (
            f"Left Cardiology on {date_format(yesterday)}"
        )
        assert history_count() == before + 2
        # The periods are kept, ended; only the other doctor is a member today.
        assert sorted(
            Membership.objects.values_list("doctor__last_name", "left_on"),
            key=str,
        ) == sorted(
            [("Lee", yesterday), ("Sun", yesterday), (kept.doctor.last_name, None)],
            key=str,
        )
        assert list(department.doctors.all()) == [kept.doctor]

    def test_remove_on_a_chosen_last_day_in_the_future(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(
            department=department,
            joined_on=datetime.date(2020, 1, 1),
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        last_day = periods.today() + datetime.timedelta(days=30)
        response = self.post_action(
            staff_client,
            department,
            "remove_selected",
            [ann],
            last_day=last_day.isoformat(),
        )
        assert messages_of(response) == [
            f"Cardiology: Dr Ann Lee left on {date_format(last_day)}."
        ]
        ann.refresh_from_db()
        assert ann.left_on == last_day
        assert list(department.doctors.all()) == [ann.doctor]  # still a member

    def test_a_period_that_starts_after_the_last_day_is_cancelled(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        soon = periods.today() + datetime.timedelta(days=10)
        ann = MembershipFactory(
            department=department,
            joined_on=soon,
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        response = self.post_action(staff_client, department, "remove_selected", [ann])
        assert messages_of(response) == [
            f"Cardiology: period of Dr Ann Lee from {date_format(soon)} cancelled."
        ]
        assert not Membership.objects.filter(pk=ann.pk).exists()

    def test_remove_asks_first_naming_who_goes_and_their_last_day(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(
            department=department,
            joined_on=datetime.date(2020, 3, 1),
            doctor=DoctorFactory(
                first_name="Ann", last_name="Lee", license_number="LIC-00123"
            ),
        )
        bo = MembershipFactory(
            department=department,
            doctor=DoctorFactory(first_name="Bo", last_name="Sun"),
        )
        seen = {ROW_VERSION.format(ann.pk): concurrency.version_of(ann)}
        response = self.post_action(
            staff_client,
            department,
            "remove_selected",
            [ann, bo],
            post="",
            change_reason="Left the clinic",
            **seen,
        )
        assert response.templates[0].name == "admin/doctors/confirm_destroy.html"
        page = response.content.decode()
        assert "Remove 2 doctors from Cardiology?" in page
        assert "Dr Ann Lee — LIC-00123, from 1 Mar 2020" in page
        assert f'value="{periods.yesterday().isoformat()}"' in page
        assert "Last day as a member" in page
        # The confirmation sends the selection and the versions again, and the
        # reason typed beside the actions.
        assert f'name="{ROW_VERSION.format(ann.pk)}"' in page
        assert page.count('name="_selected_action"') == 2
        assert 'value="Left the clinic"' in page
        assert Membership.objects.filter(left_on__isnull=True).count() == 2

    def test_a_last_day_that_is_not_a_date_asks_again(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(department=department)
        response = self.post_action(
            staff_client, department, "remove_selected", [ann], last_day="soon"
        )
        assert response.templates[0].name == "admin/doctors/confirm_destroy.html"
        assert "Enter a valid date." in response.content.decode()
        assert Membership.objects.get(pk=ann.pk).left_on is None

    def test_the_confirmation_lists_fifty_names_and_counts_the_rest(self, staff_client):
        department = department_with_members(62)
        rows = list(Membership.objects.all())
        response = self.post_action(
            staff_client, department, "remove_selected", rows, post=""
        )
        page = response.content.decode()
        assert page.count("<li>Dr First") == 50
        assert "and 12 more" in page
        assert "Remove 62 doctors from Cardiology?" in page

    def test_confirmed_removal_keeps_the_reason_on_the_change_set(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        rows = MembershipFactory.create_batch(
            2, department=department, joined_on=datetime.date(2020, 1, 1)
        )
        self.post_action(
            staff_client,
            department,
            "remove_selected",
            rows,
            change_reason="Moved to the new clinic",
        )
        change_set = ChangeSet.objects.get(reason="Moved to the new clinic")
        assert change_set.description == (
            "Removed 2 doctors from Cardiology (last day "
            f"{date_format(periods.yesterday())})"
        )
        assert (
            ActivityEvent.objects.filter(
                change_set=change_set, verb="membership_removed"
            ).count()
            == 2
        )
        assert not department.doctors.exists()

    def test_a_confirmed_removal_of_a_row_changed_meanwhile_is_refused(
        self, staff_client
    ):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(
            department=department,
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        seen = {ROW_VERSION.format(ann.pk): concurrency.version_of(ann)}
        ann.joined_on = datetime.date(2020, 2, 2)
        ann.save()
        response = self.post_action(
            staff_client, department, "remove_selected", [ann], **seen
        )
        (message,) = messages_of(response)
        assert message.startswith("Nothing was changed: Dr Ann Lee in Cardiology")
        assert Membership.objects.get(pk=ann.pk).left_on is None

    def test_in_place_edits_and_actions_keep_the_reason(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(department=department)
        data = row_post(ann, joined_on="2021-06-01")
        data["change_reason"] = "Corrected from the contract"
        staff_client.post(members_url(department), data)
        change_set = ChangeSet.objects.get(reason="Corrected from the contract")
        assert change_set.description == "Edited members of Cardiology"
        self.post_action(
            staff_client, department, "make_head", [ann], change_reason="Elected"
        )
        change_set = ChangeSet.objects.get(reason="Elected")
        assert change_set.description == (
            f"Made {ann.doctor} head of Cardiology from {today_text()}"
        )

    def test_make_head_from_a_day_hands_over_on_that_day(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        started = datetime.date(2020, 1, 1)
        MembershipFactory(
            department=department,
            role="head",
            joined_on=started,
            doctor=DoctorFactory(first_name="Old", last_name="Head"),
        )
        new = MembershipFactory(
            department=department,
            joined_on=started,
            doctor=DoctorFactory(first_name="New", last_name="Head"),
        )
        ActivityEvent.objects.all().delete()
        day = periods.today() + datetime.timedelta(days=7)
        response = self.post_action(
            staff_client, department, "make_head", [new], effective_on=day.isoformat()
        )
        text = date_format(day)
        assert messages_of(response) == [
            f"Cardiology: Dr Old Head member from {text} (was head); Dr New Head "
            f"head from {text} (was member)."
        ]
        # One event per change, naming the day and what was.
        summaries = sorted(
            activity.summarize(event)
            for event in ActivityEvent.objects.filter(verb="membership_changed")
        )
        assert summaries == [
            f"Head of Cardiology from {text} (was member)",
            f"Member of Cardiology from {text} (was head)",
        ]
        periods_now = sorted(
            Membership.objects.values_list(
                "doctor__last_name",
                "doctor__first_name",
                "role",
                "joined_on",
                "left_on",
            )
        )
        before = day - periods.ONE_DAY
        assert periods_now == [
            ("Head", "New", "head", day, None),
            ("Head", "New", "member", started, before),
            ("Head", "Old", "head", started, before),
            ("Head", "Old", "member", day, None),
        ]
        # Who heads Cardiology today and on the day has one answer each.
        assert Membership.objects.current().get(role="head").doctor.first_name == "Old"
        assert (
            Membership.objects.covering(day).get(role="head").doctor.first_name == "New"
        )

    def test_make_head_when_another_head_starts_later_names_that_period(
        self, staff_client
    ):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(
            department=department,
            joined_on=datetime.date(2020, 1, 1),
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        later = periods.today() + datetime.timedelta(days=20)
        MembershipFactory(
            department=department,
            role="head",
            joined_on=later,
            doctor=DoctorFactory(first_name="Max", last_name="Moe"),
        )
        events = ActivityEvent.objects.count()
        response = self.post_action(staff_client, department, "make_head", [ann])
        (message,) = messages_of(response)
        assert message.startswith(
            f"Nothing was changed: Cardiology already has a head from "
            f"{date_format(later)}: Dr Max Moe"
        )
        assert ActivityEvent.objects.count() == events
        ann.refresh_from_db()
        assert (ann.role, ann.left_on) == ("member", None)

    def test_a_from_day_that_is_not_a_date_changes_nothing(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(department=department)
        response = self.post_action(
            staff_client, department, "make_head", [ann], effective_on="someday"
        )
        (message,) = messages_of(response)
        assert message.startswith("Nothing was changed: “From”: Enter a valid date.")
        assert not Membership.objects.filter(role="head").exists()

    def test_make_head_needs_exactly_one(self, staff_client):
        department = DepartmentFactory()
        rows = MembershipFactory.create_batch(2, department=department)
        response = self.post_action(staff_client, department, "make_head", rows)
        assert messages_of(response) == ["Select exactly one member to make head."]
        assert not Membership.objects.filter(role="head").exists()

    def test_set_primary_moves_it_from_another_department_in_one_step(
        self, staff_client
    ):
        department = DepartmentFactory(name="Cardiology")
        elsewhere = DepartmentFactory(name="Neurology")
        ann = DoctorFactory(first_name="Ann", last_name="Lee")
        started = datetime.date(2020, 1, 1)
        old = MembershipFactory(
            doctor=ann, department=elsewhere, is_primary=True, joined_on=started
        )
        moving = MembershipFactory(doctor=ann, department=department, joined_on=started)
        free = MembershipFactory(
            department=department,
            joined_on=started,
            doctor=DoctorFactory(first_name="Bo", last_name="Sun"),
        )
        ActivityEvent.objects.all().delete()
        response = self.post_action(
            staff_client, department, "set_primary", [moving, free]
        )
        assert messages_of(response) == [
            f"Dr Ann Lee's primary department is Cardiology from {today_text()} "
            "(was Neurology).",
            f"Cardiology: the primary department of Dr Bo Sun from {today_text()}.",
        ]
        current = Membership.objects.current()
        assert set(
            current.filter(is_primary=True).values_list("doctor__last_name", flat=True)
        ) == {"Lee", "Sun"}
        assert current.get(doctor=ann, is_primary=True).department == department
        old.refresh_from_db()
        assert old.left_on == periods.yesterday() and old.is_primary
        assert len(membership_events()) == 3

    def test_set_primary_twice_for_one_doctor_changes_nothing(self, staff_client):
        cardiology, neurology = DepartmentFactory.create_batch(2)
        ann = DoctorFactory(first_name="Ann", last_name="Lee")
        rows = [
            MembershipFactory(doctor=ann, department=cardiology),
            MembershipFactory(doctor=ann, department=neurology),
        ]
        response = self.post_action(staff_client, None, "set_primary", rows)
        assert messages_of(response) == [
            "Nothing was changed: Dr Ann Lee can have only one primary department. "
            "The list now shows what is stored; choose again."
        ]
        assert not Membership.objects.filter(is_primary=True).exists()

    def test_set_and_unset_primary(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        ann = MembershipFactory(
            department=department,
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        response = self.post_action(staff_client, department, "set_primary", [ann])
        assert messages_of(response) == [
            f"Cardiology: the primary department of Dr Ann Lee from {today_text()}."
        ]
        response = self.post_action(staff_client, department, "unset_primary", [ann])
        assert messages_of(response) == [
            "Cardiology: no longer the primary department of Dr Ann Lee from "
            f"{today_text()}."
        ]

    def test_managers_have_no_actions(self, client, manager):
        department = DepartmentFactory()
        row = MembershipFactory(department=department)
        client.force_login(manager)
        response = self.post_action(client, department, "remove_selected", [row])
        assert Membership.objects.filter(pk=row.pk).exists()
        assert response.status_code == 200


class TestAddDoctors:
    def test_two_doctors_at_once(self, staff_client):
        department = DepartmentFactory(name="<b>Cardio</b>")
        ann = DoctorFactory(first_name="Ann", last_name="Lee")
        bo = DoctorFactory(first_name="Bo", last_name="Sun")
        ActivityEvent.objects.all().delete()
        before = history_count()
        response = staff_client.post(
            ADD_URL,
            {
                "department": department.pk,
                "doctors": [bo.pk, ann.pk],
                "joined_on": "2024-05-01",
            },
        )
        assert response.status_code == 302
        assert response.url == members_url(department)
        assert membership_events() == [
            ("membership_added", "Dr Ann Lee", "<b>Cardio</b>"),
            ("membership_added", "Dr Bo Sun", "<b>Cardio</b>"),
        ]
        assert history_count() == before + 2
        assert set(Membership.objects.values_list("joined_on", "left_on", "role")) == {
            (datetime.date(2024, 5, 1), None, "member")
        }
        page = staff_client.get(response.url)
        content = page.content.decode()
        assert (
            "&lt;b&gt;Cardio&lt;/b&gt;: Dr Ann Lee, Dr Bo Sun joined on 1 May 2024."
            in content
        )
        assert "<b>Cardio</b>" not in content

    def test_doctors_already_in_the_department_are_an_error_naming_the_period(
        self, staff_client
    ):
        department = DepartmentFactory(name="Cardiology")
        ann = DoctorFactory(first_name="Ann", last_name="Lee")
        bo = DoctorFactory(first_name="Bo", last_name="Sun")
        MembershipFactory(
            department=department, doctor=ann, joined_on=datetime.date(2023, 2, 1)
        )
        response = staff_client.post(
            ADD_URL,
            {
                "department": department.pk,
                "doctors": [ann.pk, bo.pk],
                "joined_on": "2024-05-01",
            },
        )
        assert response.status_code == 200
        assert "Dr Ann Lee is already in Cardiology from 1 Feb 2023." in str(
            response.context["form"].errors
        )
        assert Membership.objects.count() == 1

    def test_a_doctor_who_left_joins_again_in_a_new_period(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        ann = DoctorFactory(first_name="Ann", last_name="Lee")
        MembershipFactory(
            department=department,
            doctor=ann,
            joined_on=datetime.date(2020, 1, 1),
            left_on=datetime.date(2021, 12, 31),
        )
        response = staff_client.post(
            ADD_URL,
            {
                "department": department.pk,
                "doctors": [ann.pk],
                "joined_on": "2024-05-01",
            },
        )
        assert response.status_code == 302
        assert list(
            Membership.objects.order_by("joined_on").values_list("joined_on", "left_on")
        ) == [
            (datetime.date(2020, 1, 1), datetime.date(2021, 12, 31)),
            (datetime.date(2024, 5, 1), None),
        ]

    def test_the_member_list_offers_the_form_with_autocomplete(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        content = staff_client.get(members_url(department)).content.decode()
        assert 'id="add-doctors-form"' in content
        assert "admin-autocomplete" in content
        assert 'data-field-name="doctor"' in content


def autocomplete(client, term: str, **params) -> list[str]:
    response = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "doctors",
            "model_name": "membership",
            "field_name": "doctor",
            "term": term,
            **params,
        },
    )
    assert response.status_code == 200
    return [result["text"] for result in response.json()["results"]]


class TestDoctorAutocomplete:
    def test_namesakes_are_told_apart_by_license_and_primary_department(
        self, staff_client
    ):
        cardiology = DepartmentFactory(name="Cardiology")
        first = DoctorFactory(
            first_name="Destiny", last_name="Allen", license_number="LIC-00123"
        )
        MembershipFactory(doctor=first, department=cardiology, is_primary=True)
        DoctorFactory(first_name="Destiny", last_name="Allen", license_number="LIC-9")
        assert sorted(autocomplete(staff_client, "Allen")) == [
            "Dr Destiny Allen — LIC-00123, Cardiology",
            "Dr Destiny Allen — LIC-9, no primary department",
        ]

    def test_a_departments_form_leaves_out_its_members(self, staff_client):
        cardiology, neurology = DepartmentFactory.create_batch(2)
        member = DoctorFactory(last_name="Allen", first_name="In")
        MembershipFactory(doctor=member, department=cardiology)
        MembershipFactory(
            doctor=DoctorFactory(last_name="Allen", first_name="Out"),
            department=neurology,
        )
        offered = autocomplete(
            staff_client, "Allen", not_in_department=str(cardiology.pk)
        )
        assert [label.split(" — ")[0] for label in offered] == ["Dr Out Allen"]
        assert len(autocomplete(staff_client, "Allen")) == 2

    def test_the_member_lists_form_asks_for_non_members(self, staff_client):
        department = DepartmentFactory()
        page = staff_client.get(members_url(department)).content.decode()
        assert f"autocomplete/?not_in_department={department.pk}" in page

    def test_one_page_of_results_costs_the_same_whatever_their_number(
        self, staff_client
    ):
        department = DepartmentFactory()

        def queries_with(doctors: int) -> int:
            for index in range(Doctor.objects.count(), doctors):
                MembershipFactory(
                    department=department,
                    is_primary=True,
                    doctor=DoctorFactory(last_name=f"Allen{index:03d}"),
                )
            with CaptureQueriesContext(connection) as queries:
                offered = autocomplete(staff_client, "Allen", not_in_department="9")
            assert len(offered) == min(doctors, 20)
            assert all(", no primary department" not in label for label in offered)
            # The page of doctors, their primary departments in the same query.
            pages = [
                q["sql"]
                for q in queries
                if q["sql"].startswith('SELECT "doctors_doctor"')
            ]
            assert len(pages) == 1
            return len(queries)

        assert queries_with(5) == queries_with(45)


class TestDoctorWithManyMemberships:
    @pytest.mark.parametrize("memberships", [31, 80])
    def test_the_page_links_to_the_list_and_costs_the_same(
        self, staff_client, memberships
    ):
        doctor = DoctorFactory()
        for department in DepartmentFactory.create_batch(memberships):
            MembershipFactory(doctor=doctor, department=department)
        url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
        staff_client.get(url)  # the session and permission caches, warmed
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(url)
        content = response.content.decode()
        assert "memberships-TOTAL_FORMS" not in content
        assert f"{memberships} departments" in content
        assert f"?doctor={doctor.pk}" in content
        assert len(queries) == DOCTOR_MANY_MEMBERSHIPS_OPEN

    def test_few_memberships_are_still_edited_on_the_page(self, staff_client):
        doctor = DoctorFactory()
        MembershipFactory(doctor=doctor)
        url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
        assert "memberships-TOTAL_FORMS" in staff_client.get(url).content.decode()

    def test_the_list_scoped_to_a_doctor(self, staff_client):
        doctor = DoctorFactory()
        mine = MembershipFactory(doctor=doctor)
        MembershipFactory()
        response = staff_client.get(f"{LIST_URL}?doctor={doctor.pk}")
        assert list(response.context["cl"].result_list) == [mine]


DOCTOR_MANY_MEMBERSHIPS_OPEN = 9


@pytest.mark.django_db(transaction=True)
def test_one_cache_bump_per_request(client, superuser):
    """Adding two doctors, then an action on two rows: one bump each."""
    client.force_login(superuser)
    department = DepartmentFactory(name="Cardiology")
    ann, bo = DoctorFactory.create_batch(2)
    generation = dashboard.current_generation()
    response = client.post(
        ADD_URL,
        {"department": department.pk, "doctors": [ann.pk, bo.pk]}
        | {"joined_on": "2024-05-01"},
    )
    assert response.status_code == 302
    assert dashboard.current_generation() == generation + 1
    rows = list(Membership.objects.all())
    client.post(
        members_url(department),
        {"action": "set_primary", "_selected_action": [m.pk for m in rows]},
    )
    assert Membership.objects.filter(is_primary=True).count() == 2
    assert dashboard.current_generation() == generation + 2


def test_saving_a_list_page_costs_the_same_whatever_its_rows(staff_client):
    def save_one_row(department) -> int:
        url = members_url(department)
        page = staff_client.get(url)
        fields = submitted_fields(page.content.decode(), "changelist-form")
        data = as_post_data(fields)
        data["form-2-joined_on"] = ["2019-09-09"]
        data["_save"] = ["Save"]
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.post(url, data)
        assert response.status_code == 302
        return len(queries)

    small = save_one_row(department_with_members(5, name="Small"))
    full_page = save_one_row(department_with_members(60, name="Large"))
    assert small == full_page


def test_list_widgets_write_what_django_templates_write(rf, clinic_staff):
    """The list's widgets skip the template engine; the markup is the same."""
    import re

    from django.contrib import admin as django_admin

    MembershipFactory(role="head", is_primary=True, left_on=datetime.date(2030, 1, 1))
    model_admin = django_admin.site._registry[Membership]
    request = rf.get(LIST_URL)
    request.user = clinic_staff
    formset_class = model_admin.get_changelist_formset(request)
    fast = formset_class(queryset=Membership.objects.all()).forms[0]
    plain = formset_class(queryset=Membership.objects.all()).forms[0]
    for field in plain.fields.values():
        # Undo render_directly: back to the widget class's template rendering.
        del field.widget.render

    def normal(html):
        return re.sub(r">\s+<", "><", str(html)).strip()

    for name in ["id", "joined_on", "left_on"]:
        assert normal(fast[name].as_widget()) == normal(plain[name].as_widget()), name


class TestOneMembershipPage:
    def test_deleting_asks_first_and_keeps_the_reason(self, staff_client):
        membership = MembershipFactory(
            department=DepartmentFactory(name="Cardiology"),
            doctor=DoctorFactory(first_name="Ann", last_name="Lee"),
        )
        change = reverse("admin:doctors_membership_change", args=[membership.pk])
        assert 'name="change_reason"' in staff_client.get(change).content.decode()
        url = reverse("admin:doctors_membership_delete", args=[membership.pk])
        page = staff_client.get(url).content.decode()
        assert 'name="change_reason"' in page
        staff_client.post(url, {"post": "yes", "change_reason": "Left"})
        assert not Membership.objects.exists()
        change_set = ChangeSet.objects.get(reason="Left")
        assert change_set.description == "Removed Dr Ann Lee from Cardiology"

    def test_a_second_head_is_a_form_error_naming_the_head(self, staff_client):
        department = DepartmentFactory(name="Cardiology")
        MembershipFactory(
            department=department,
            role="head",
            joined_on=datetime.date(2023, 1, 1),
            doctor=DoctorFactory(first_name="Max", last_name="Moe"),
        )
        doctor = DoctorFactory()
        response = staff_client.post(
            reverse("admin:doctors_membership_add"),
            {
                "doctor": doctor.pk,
                "department": department.pk,
                "role": "head",
                "joined_on": "2024-01-01",
            },
        )
        assert response.status_code == 200
        assert "Cardiology already has a head from 1 Jan 2023: Dr Max Moe." in str(
            response.context["adminform"].form.errors
        )

    def test_a_change_made_meanwhile_is_not_overwritten(self, staff_client):
        membership = MembershipFactory(
            doctor=DoctorFactory(first_name="Ann", last_name="Lee")
        )
        url = reverse("admin:doctors_membership_change", args=[membership.pk])
        page = staff_client.get(url)
        data = as_post_data(submitted_fields(page.content.decode(), "membership_form"))
        data["joined_on"] = ["2020-01-01"]
        membership.is_primary = True  # someone else, meanwhile
        membership.save()
        response = staff_client.post(url, data)
        assert response.status_code == 200
        assert "since you opened it" in str(response.context["adminform"].form.errors)
        membership.refresh_from_db()
        assert membership.is_primary and str(membership.joined_on) != "2020-01-01"


def test_an_action_on_too_many_rows_is_refused(staff_client, monkeypatch):
    from doctors.admin.member_list import actions

    monkeypatch.setattr(actions, "ACTION_LIMIT", 3)
    department = department_with_members(5)
    response = staff_client.post(
        members_url(department),
        {
            "action": "remove_selected",
            "select_across": "1",
            "index": "0",
            "_selected_action": [Membership.objects.first().pk],
        },
        follow=True,
    )
    assert messages_of(response) == [
        "Nothing was changed: select at most 3 members at a time (narrow the list "
        "with the search or the filters)."
    ]
    assert Membership.objects.filter(department=department).count() == 5


def test_the_list_save_refuses_a_forged_extra_row(staff_client):
    department = DepartmentFactory()
    row = MembershipFactory(department=department)
    other = DoctorFactory()
    data = row_post(row)
    data.update(
        {
            "form-TOTAL_FORMS": "2",
            "form-1-role": "member",
            "form-1-joined_on": "2026-01-01",
            "form-1-doctor": str(other.pk),
            "form-1-department": str(department.pk),
            "form-1-is_primary": "on",
        }
    )
    response = staff_client.post(members_url(department), data)
    assert response.status_code == 400
    assert not Membership.objects.filter(doctor=other).exists()
