"""Reverting a doctor or a department: fields, memberships, conflicts, round trips."""

import datetime

import pytest
from django.utils import timezone

from doctors import period_changes
from doctors.models import ActivityEvent, Department, Doctor, Membership
from doctors.timetravel.revert import (
    ADD,
    CHANGE,
    REMOVE,
    RevertError,
    apply_revert,
    plan_revert,
)
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.django_db
HEAD = Membership.Role.HEAD
ONE_YEAR = datetime.timedelta(days=365)


def state(obj) -> tuple:
    """Every field of `obj` and of its memberships, as compared by a round trip."""
    obj.refresh_from_db()
    model = type(obj)
    fields = {
        f.attname: getattr(obj, f.attname)
        for f in model._meta.concrete_fields
        if f.attname not in {"id", "created_at", "updated_at"}
    }
    own = "doctor" if model is Doctor else "department"
    memberships = sorted(
        Membership.objects.filter(**{own: obj}).values_list(
            "doctor_id", "department_id", "role", "is_primary", "joined_on"
        )
    )
    return fields, memberships


@pytest.fixture
def departments():
    return [
        DepartmentFactory(name=name) for name in ("Cardiology", "Neurology", "Oncology")
    ]


def test_doctor_revert_restores_fields_and_memberships_and_round_trips(departments):
    card, neur, onc = departments
    doctor = DoctorFactory(first_name="Ada")
    doctor.departments.add(card, through_defaults={"role": HEAD, "is_primary": True})
    doctor.departments.add(neur)
    before = state(doctor)
    moment = timezone.now()
    # Changed twice since: fields and memberships.
    doctor.first_name = "Adah"
    doctor.save()
    doctor.departments.set([neur, onc])
    Membership.objects.filter(doctor=doctor, department=neur).update(is_primary=True)
    membership = Membership.objects.get(doctor=doctor, department=neur)
    membership.role = HEAD
    membership.save()
    after = state(doctor)
    undo_moment = timezone.now()

    plan = plan_revert(doctor, moment)
    assert [(c.name, c.now, c.then) for c in plan.fields] == [
        ("first_name", "Adah", "Ada")
    ]
    assert sorted((s.other_text, s.action) for s in plan.memberships) == [
        ("Cardiology", ADD),
        ("Neurology", CHANGE),
        ("Oncology", REMOVE),
    ]
    assert plan.conflicts == []
    apply_revert(doctor, moment)
    assert state(doctor) == before

    # Revert the revert: back to the state it replaced.
    apply_revert(doctor, undo_moment)
    assert state(doctor) == after


def test_department_revert_round_trips_with_a_head_handover(departments):
    card = departments[0]
    ann, bo, cy = DoctorFactory.create_batch(3)
    card.doctors.add(ann, through_defaults={"role": HEAD})
    card.doctors.add(bo)
    before = state(card)
    moment = timezone.now()
    card.name = "Heart"
    card.save()
    card.doctors.remove(ann)
    membership = Membership.objects.get(department=card, doctor=bo)
    membership.role = HEAD
    membership.save()
    card.doctors.add(cy)
    after = state(card)
    undo_moment = timezone.now()
    apply_revert(card, moment)
    assert state(card) == before
    apply_revert(card, undo_moment)
    assert state(card) == after


def test_a_revert_writes_feed_events_and_history_with_its_reason(departments):
    card, neur, _ = departments
    doctor = DoctorFactory()
    doctor.departments.add(card)
    moment = timezone.now()
    doctor.departments.set([neur])
    ActivityEvent.objects.all().delete()
    started = timezone.now()
    apply_revert(doctor, moment)
    assert sorted(ActivityEvent.objects.values_list("verb", "department_text")) == [
        ("membership_added", "Cardiology"),
        ("membership_removed", "Neurology"),
    ]
    reasons = set(
        Membership.history.filter(
            doctor_id=doctor.pk, history_date__gt=started
        ).values_list("history_change_reason", flat=True)
    )
    assert len(reasons) == 1 and reasons.pop().startswith("Revert to ")


def test_conflicts_refuse_the_revert_unless_skipped(departments):
    card, neur, _ = departments
    doctor = DoctorFactory(email="ada@clinic.test")
    doctor.departments.add(card, through_defaults={"role": HEAD})
    doctor.departments.add(neur)
    moment = timezone.now()
    doctor.email = "ada.new@clinic.test"
    doctor.save()
    doctor.departments.clear()
    # Since then: Cardiology has another head, Neurology was deleted, and the
    # old email belongs to someone else.
    MembershipFactory(department=card, role=HEAD)
    DoctorFactory(email="ADA@clinic.test")
    neur.delete()
    before = state(doctor)

    plan = plan_revert(doctor, moment)
    assert len(plan.conflicts) == 3
    assert any("another head" in c for c in plan.conflicts)
    assert any("was deleted since" in c for c in plan.conflicts)
    assert any("email" in c for c in plan.conflicts)
    with pytest.raises(RevertError, match="conflicts"):
        apply_revert(doctor, moment)
    assert state(doctor) == before

    # Skipping the conflicts changes nothing here: every part conflicts.
    apply_revert(doctor, moment, skip_conflicts=True)
    assert state(doctor) == before


def test_skipping_conflicts_restores_the_rest(departments):
    card, neur, _ = departments
    doctor = DoctorFactory(first_name="Ada")
    doctor.departments.add(card, through_defaults={"is_primary": True})
    doctor.departments.add(neur)
    moment = timezone.now()
    doctor.first_name = "Adah"
    doctor.save()
    doctor.departments.clear()
    neur.delete()
    apply_revert(doctor, moment, skip_conflicts=True)
    doctor.refresh_from_db()
    assert doctor.first_name == "Ada"
    assert list(doctor.memberships.values_list("department__name", "is_primary")) == [
        ("Cardiology", True)
    ]


def test_department_revert_conflicts_on_a_primary_held_elsewhere(departments):
    card, neur, _ = departments
    doctor = DoctorFactory()
    card.doctors.add(doctor, through_defaults={"is_primary": True})
    moment = timezone.now()
    card.doctors.clear()
    neur.doctors.add(doctor, through_defaults={"is_primary": True})
    plan = plan_revert(card, moment)
    assert [s.action for s in plan.memberships] == [ADD]
    assert "primary" in plan.conflicts[0]


def test_a_confirm_after_a_change_since_the_preview_is_refused(departments):
    card, neur, _ = departments
    doctor = DoctorFactory()
    doctor.departments.add(card)
    moment = timezone.now()
    doctor.departments.set([neur])
    digest = plan_revert(doctor, moment).digest
    doctor.departments.add(card)  # someone else, meanwhile
    with pytest.raises(RevertError, match="changed since the preview"):
        apply_revert(doctor, moment, expected_digest=digest)
    assert set(doctor.departments.all()) == {card, neur}


def test_no_revert_to_before_the_object_existed():
    before = timezone.now()
    department = DepartmentFactory()
    with pytest.raises(RevertError, match="did not exist"):
        plan_revert(department, before)
    assert Department.objects.filter(pk=department.pk).exists()


def test_a_plan_with_nothing_to_do_is_empty(departments):
    doctor = DoctorFactory()
    doctor.departments.add(departments[0])
    assert plan_revert(doctor, timezone.now()).is_empty


def periods_of(obj) -> list[tuple]:
    own = "doctor" if isinstance(obj, Doctor) else "department"
    return sorted(
        Membership.objects.filter(**{own: obj}).values_list(
            "pk", "doctor_id", "joined_on", "left_on", "role", "is_primary"
        )
    )


def test_a_revert_across_a_period_split_restores_each_period(departments):
    """Made head from today (the period split in two) and, for another
    doctor, a period ended: the revert gives the periods back as they were,
    by id, and reverting the revert splits them again."""
    card = departments[0]
    last_year = timezone.localdate() - datetime.timedelta(days=365)
    ann, bo = DoctorFactory.create_batch(2)
    first = MembershipFactory(doctor=ann, department=card, joined_on=last_year)
    MembershipFactory(doctor=bo, department=card, role=HEAD, joined_on=last_year)
    before = periods_of(card)
    moment = timezone.now()
    period_changes.make_head(first)
    period_changes.leave(Membership.objects.filter(doctor=bo))
    split = periods_of(card)
    assert len(split) == 3
    split_moment = timezone.now()

    plan = plan_revert(card, moment)
    assert sorted(s.action for s in plan.memberships) == [CHANGE, CHANGE, REMOVE]
    assert not plan.conflicts
    apply_revert(card, moment)
    assert periods_of(card) == before

    apply_revert(card, split_moment)
    assert [values[1:] for values in periods_of(card)] == [
        values[1:] for values in split
    ]


def test_a_doctor_revert_keeps_several_periods_in_one_department(departments):
    card, neur, _ = departments
    today = timezone.localdate()
    doctor = DoctorFactory()
    MembershipFactory(
        doctor=doctor,
        department=card,
        joined_on=today - datetime.timedelta(days=300),
        left_on=today - datetime.timedelta(days=200),
    )
    MembershipFactory(
        doctor=doctor, department=card, joined_on=today - datetime.timedelta(days=100)
    )
    before = periods_of(doctor)
    moment = timezone.now()
    doctor.departments.set([neur])
    assert periods_of(doctor) != before
    plan = plan_revert(doctor, moment)
    assert not plan.conflicts
    apply_revert(doctor, moment)
    assert periods_of(doctor) == before


def test_a_head_role_held_by_another_on_some_of_the_days_conflicts(departments):
    card = departments[0]
    today = timezone.localdate()
    doctor = DoctorFactory()
    MembershipFactory(
        doctor=doctor, department=card, role=HEAD, joined_on=today - ONE_YEAR
    )
    moment = timezone.now()
    period_changes.leave(Membership.objects.filter(doctor=doctor))
    # Someone else is head from next month.
    other = MembershipFactory(
        department=card, role=HEAD, joined_on=today + datetime.timedelta(days=30)
    )
    plan = plan_revert(doctor, moment)
    [conflict] = plan.conflicts
    assert "another head" in conflict and other.doctor.license_number in conflict
