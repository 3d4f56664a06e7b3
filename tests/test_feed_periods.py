"""One feed event per period started, ended, changed on a day, corrected or
cancelled, with the days in its sentence, whichever road made it; and
"current" in the admin's lists and counts means the periods covering today."""

import datetime

import pytest
from django.urls import reverse
from django.utils.formats import date_format

from doctors import activity, period_changes, periods
from doctors.context import acting_as
from doctors.models import ActivityEvent, ChangeSet, Membership
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.django_db

MARCH_1 = datetime.date(2026, 3, 1)


def day(value: datetime.date) -> str:
    return date_format(value)


def sentences() -> list[tuple[str, str]]:
    """(what happened, the sentence) of each membership event, oldest first."""
    return [
        (activity.verb_label(event), activity.summarize(event))
        for event in ActivityEvent.objects.filter(
            verb__startswith="membership_"
        ).order_by("id")
    ]


@pytest.fixture
def jane():
    return DoctorFactory(first_name="Jane", last_name="Roe")


@pytest.fixture
def cardiology():
    return DepartmentFactory(name="Cardiology")


def test_a_join_says_the_first_day_and_what_the_period_holds(jane, cardiology):
    period_changes.join(
        jane, cardiology, first_day=MARCH_1, role="head", is_primary=True
    )
    assert sentences() == [
        ("Joined", "Joined Cardiology on 1 Mar 2026 as head (primary department)")
    ]


def test_leaving_says_the_last_day(jane, cardiology):
    membership = MembershipFactory(
        doctor=jane, department=cardiology, joined_on=MARCH_1
    )
    ActivityEvent.objects.all().delete()
    period_changes.leave([membership], datetime.date(2026, 3, 31))
    assert sentences() == [("Left", "Left Cardiology on 31 Mar 2026")]
    membership.refresh_from_db()
    assert membership.left_on == datetime.date(2026, 3, 31)


def test_a_change_on_a_day_is_one_event_saying_what_was(jane, cardiology):
    membership = MembershipFactory(
        doctor=jane, department=cardiology, joined_on=MARCH_1
    )
    ActivityEvent.objects.all().delete()
    period_changes.make_head(membership, datetime.date(2026, 3, 2))
    assert sentences() == [
        ("Changed from a date", "Head of Cardiology from 2 Mar 2026 (was member)")
    ]
    assert list(
        Membership.objects.order_by("joined_on").values_list(
            "role", "joined_on", "left_on"
        )
    ) == [
        ("member", MARCH_1, MARCH_1),
        ("head", datetime.date(2026, 3, 2), None),
    ]


def test_a_primary_department_moving_on_a_day(jane, cardiology):
    neurology = DepartmentFactory(name="Neurology")
    MembershipFactory(
        doctor=jane, department=neurology, joined_on=MARCH_1, is_primary=True
    )
    moving = MembershipFactory(doctor=jane, department=cardiology, joined_on=MARCH_1)
    ActivityEvent.objects.all().delete()
    period_changes.make_primary(moving, datetime.date(2026, 4, 1))
    assert sentences() == [
        (
            "Changed from a date",
            "Neurology is no longer the primary department from 1 Apr 2026",
        ),
        (
            "Changed from a date",
            "Cardiology is the primary department from 1 Apr 2026",
        ),
    ]


def test_a_correction_is_not_a_change(jane, cardiology):
    membership = MembershipFactory(
        doctor=jane, department=cardiology, joined_on=MARCH_1
    )
    ActivityEvent.objects.all().delete()
    period_changes.correct(membership, joined_on=datetime.date(2026, 3, 3))
    (event,) = ActivityEvent.objects.all()
    assert event.verb == ActivityEvent.Verb.MEMBERSHIP_CHANGED
    assert sentences() == [
        ("Corrected", "Corrected in Cardiology: first day 1 Mar 2026 → 3 Mar 2026")
    ]


def test_cancelling_a_period_not_started(jane, cardiology):
    soon = periods.today() + datetime.timedelta(days=5)
    membership = MembershipFactory(doctor=jane, department=cardiology, joined_on=soon)
    ActivityEvent.objects.all().delete()
    period_changes.cancel(membership)
    assert sentences() == [
        (
            "Cancelled (never started)",
            f"Cancelled the period in Cardiology from {day(soon)}",
        )
    ]


def test_remove_through_the_many_to_many_ends_yesterday(jane, cardiology):
    MembershipFactory(doctor=jane, department=cardiology, joined_on=MARCH_1)
    ActivityEvent.objects.all().delete()
    jane.departments.remove(cardiology)
    assert sentences() == [("Left", f"Left Cardiology on {day(periods.yesterday())}")]


def test_add_after_leaving_reports_only_the_new_period(jane, cardiology):
    MembershipFactory(
        doctor=jane,
        department=cardiology,
        joined_on=datetime.date(2020, 1, 1),
        left_on=datetime.date(2021, 1, 1),
    )
    ActivityEvent.objects.all().delete()
    history_before = Membership.history.count()
    jane.departments.add(cardiology)
    assert sentences() == [("Joined", f"Joined Cardiology on {day(periods.today())}")]
    assert Membership.history.count() == history_before + 1


def test_an_edit_without_a_named_kind_is_inferred(jane, cardiology):
    """A last day set on an open period ends it; other edits correct it."""
    membership = MembershipFactory(
        doctor=jane, department=cardiology, joined_on=MARCH_1
    )
    ActivityEvent.objects.all().delete()
    membership.left_on = datetime.date(2026, 6, 30)
    membership.save()
    membership.left_on = datetime.date(2026, 7, 31)
    membership.save()
    assert sentences() == [
        ("Left", "Left Cardiology on 30 Jun 2026"),
        ("Corrected", "Corrected in Cardiology: last day 30 Jun 2026 → 31 Jul 2026"),
    ]


def test_change_sets_are_named_after_what_happened_to_periods(
    jane, cardiology, clinic_staff
):
    other = DoctorFactory(first_name="Max", last_name="Moe")
    first = MembershipFactory(doctor=jane, department=cardiology, joined_on=MARCH_1)
    second = MembershipFactory(doctor=other, department=cardiology, joined_on=MARCH_1)
    with acting_as(clinic_staff, source="admin") as change:
        period_changes.correct(first, joined_on=datetime.date(2026, 3, 2))
        period_changes.correct(second, joined_on=datetime.date(2026, 3, 2))
    change_set = ChangeSet.objects.get(pk=change.change_set.pk)
    assert change_set.description == (
        "Corrected the membership dates of 2 doctors in Cardiology"
    )


def test_older_events_without_a_period_read_as_before():
    event = ActivityEvent(
        verb=ActivityEvent.Verb.MEMBERSHIP_REMOVED,
        department_text="Cardiology",
        changes={"role": ["member", None]},
    )
    assert activity.summarize(event) == "Removed from department: Cardiology"
    assert activity.verb_label(event) == "Removed from department"


class TestCurrentInTheAdmin:
    @pytest.fixture
    def periods_of_cardiology(self, cardiology):
        today = periods.today()
        MembershipFactory(
            department=cardiology,
            role="head",
            joined_on=datetime.date(2020, 1, 1),
            left_on=today - datetime.timedelta(days=1),
            doctor=DoctorFactory(first_name="Old", last_name="Head"),
        )
        MembershipFactory(
            department=cardiology,
            role="head",
            joined_on=today,
            doctor=DoctorFactory(first_name="New", last_name="Head"),
        )
        MembershipFactory(
            department=cardiology,
            joined_on=today + datetime.timedelta(days=3),
            doctor=DoctorFactory(first_name="Soon", last_name="Here"),
        )
        return cardiology

    def test_department_list_counts_and_heads_are_of_today(
        self, staff_client, periods_of_cardiology
    ):
        response = staff_client.get(reverse("admin:doctors_department_changelist"))
        (department,) = response.context["cl"].result_list
        assert department.member_total == 1
        assert [m.doctor.first_name for m in department.heads] == ["New"]

    def test_doctor_list_filter_and_columns_are_of_today(
        self, staff_client, periods_of_cardiology
    ):
        response = staff_client.get(
            reverse("admin:doctors_doctor_changelist"),
            {"departments__id__exact": periods_of_cardiology.pk},
        )
        names = [doctor.first_name for doctor in response.context["cl"].result_list]
        assert names == ["New"]
        content = staff_client.get(
            reverse("admin:doctors_doctor_changelist")
        ).content.decode()
        # The leaver's and the joiner's rows show no department today.
        assert content.count('<td class="field-department_list">Cardiology</td>') == 1
