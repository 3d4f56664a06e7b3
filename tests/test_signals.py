"""The receivers in doctors/signals.py: feed events, one per change, by every road."""

import importlib
import io
import json
import logging

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from doctors import dashboard
from doctors.context import acting_as
from doctors.models import ActivityEvent, Department, Doctor, Membership
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
Verb = ActivityEvent.Verb


def events(**filters):
    return list(ActivityEvent.objects.filter(**filters).order_by("id"))


def membership_events():
    return [
        (e.verb, e.target_text, e.department_text)
        for e in events(verb__startswith="membership_")
    ]


@pytest.fixture
def people():
    """A doctor in Cardiology and Neurology, and a spare Oncology department."""
    doctor = DoctorFactory(first_name="Jane", last_name="Roe")
    cardio = DepartmentFactory(name="Cardiology")
    neuro = DepartmentFactory(name="Neurology")
    onco = DepartmentFactory(name="Oncology")
    MembershipFactory(doctor=doctor, department=cardio, is_primary=True)
    MembershipFactory(doctor=doctor, department=neuro)
    ActivityEvent.objects.all().delete()
    return doctor, cardio, neuro, onco


class TestDoctorAndDepartmentEvents:
    def test_create_update_delete_each_write_one_event(self):
        user = UserFactory(username="alice")
        with acting_as(user, source="admin"):
            doctor = DoctorFactory(first_name="Jane", last_name="Roe")
            doctor.first_name = "Janet"
            doctor.phone = "+1 555 0100"
            doctor.save()
            doctor_pk = doctor.pk
            doctor.delete()
        created, updated, deleted = events(target_type="doctor")
        assert created.verb == Verb.CREATED and created.changes["first_name"] == [
            None,
            "Jane",
        ]
        assert updated.verb == Verb.UPDATED
        assert updated.changes == {
            "first_name": ["Jane", "Janet"],
            "phone": ["", "+1 555 0100"],
        }
        assert deleted.verb == Verb.DELETED
        # The event keeps the target as it was: it outlives the doctor.
        assert (deleted.target_id, deleted.target_text) == (doctor_pk, "Dr Janet Roe")
        for event in (created, updated, deleted):
            assert (event.actor, event.actor_name, event.source) == (
                user,
                "alice",
                "admin",
            )

    def test_a_save_that_changes_nothing_writes_no_event_and_no_history(self):
        department = DepartmentFactory()
        department = Department.objects.get(pk=department.pk)
        before = (ActivityEvent.objects.count(), department.history.count())
        department.save()
        assert (ActivityEvent.objects.count(), department.history.count()) == before

    def test_an_object_built_by_hand_is_compared_with_the_stored_row(self):
        doctor = DoctorFactory(first_name="Jane")
        copy = Doctor(
            **{
                f.attname: getattr(doctor, f.attname)
                for f in Doctor._meta.concrete_fields
            }
        )
        copy.last_name = "Other"
        copy.save()
        assert events(verb=Verb.UPDATED)[0].changes == {"last_name": ["Roe", "Other"]}

    def test_without_a_request_or_command_the_source_is_system(self):
        DepartmentFactory()
        event = events()[0]
        assert (event.source, event.actor, event.actor_name) == ("system", None, "")

    def test_rollback_leaves_no_event_no_task_and_no_cache_bump(
        self, django_capture_on_commit_callbacks
    ):
        generation = dashboard.current_generation()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RuntimeError), transaction.atomic():
                doctor = DoctorFactory()
                doctor.departments.add(DepartmentFactory())
                raise RuntimeError("the save fails after the receivers ran")
        assert callbacks == []
        assert not ActivityEvent.objects.exists()
        assert not DBTaskResult.objects.exists()
        assert dashboard.current_generation() == generation


class TestOneEventPerMembershipChange:
    def test_forward_add(self, people):
        doctor, _, _, onco = people
        doctor.departments.add(onco, through_defaults={"role": "head"})
        assert membership_events() == [("membership_added", "Dr Jane Roe", "Oncology")]
        assert events()[0].changes["role"] == [None, "head"]

    def test_forward_remove(self, people):
        doctor, cardio, _, _ = people
        doctor.departments.remove(cardio)
        assert membership_events() == [
            ("membership_removed", "Dr Jane Roe", "Cardiology")
        ]

    def test_forward_set(self, people):
        doctor, cardio, neuro, onco = people
        doctor.departments.set([neuro, onco])
        assert sorted(membership_events()) == [
            ("membership_added", "Dr Jane Roe", "Oncology"),
            ("membership_removed", "Dr Jane Roe", "Cardiology"),
        ]

    def test_forward_clear(self, people):
        doctor, *_ = people
        doctor.departments.clear()
        assert sorted(membership_events()) == [
            ("membership_removed", "Dr Jane Roe", "Cardiology"),
            ("membership_removed", "Dr Jane Roe", "Neurology"),
        ]

    def test_reverse_add_remove_set_clear(self, people):
        doctor, cardio, neuro, onco = people
        other = DoctorFactory(first_name="Max", last_name="Moe")
        ActivityEvent.objects.all().delete()
        onco.doctors.add(doctor, other)
        assert sorted(membership_events()) == [
            ("membership_added", "Dr Jane Roe", "Oncology"),
            ("membership_added", "Dr Max Moe", "Oncology"),
        ]
        ActivityEvent.objects.all().delete()
        onco.doctors.remove(other)
        assert membership_events() == [("membership_removed", "Dr Max Moe", "Oncology")]
        ActivityEvent.objects.all().delete()
        cardio.doctors.set([other])
        assert sorted(membership_events()) == [
            ("membership_added", "Dr Max Moe", "Cardiology"),
            ("membership_removed", "Dr Jane Roe", "Cardiology"),
        ]
        ActivityEvent.objects.all().delete()
        neuro.doctors.clear()
        assert membership_events() == [
            ("membership_removed", "Dr Jane Roe", "Neurology")
        ]

    def test_role_and_primary_changes(self, people):
        doctor, cardio, neuro, _ = people
        membership = Membership.objects.get(doctor=doctor, department=neuro)
        membership.role = "head"
        membership.save()
        (event,) = events()
        assert (event.verb, event.department_text) == (
            "membership_changed",
            "Neurology",
        )
        # Edited in place, with no dated change: a correction of the period.
        assert event.changes == {
            "role": ["member", "head"],
            "period_event": [None, "corrected"],
        }

    def test_deleting_a_doctor(self, people):
        doctor, *_ = people
        doctor.delete()
        assert sorted(membership_events()) == [
            ("membership_removed", "Dr Jane Roe", "Cardiology"),
            ("membership_removed", "Dr Jane Roe", "Neurology"),
        ]
        assert len(events(verb=Verb.DELETED)) == 1

    def test_deleting_a_department(self, people, django_assert_max_num_queries):
        _, cardio, _, _ = people
        for _ in range(5):
            MembershipFactory(department=cardio)
        ActivityEvent.objects.all().delete()
        # Names come from one query before the cascade, not one per member.
        with django_assert_max_num_queries(30):
            cardio.delete()
        removed = events(verb=Verb.MEMBERSHIP_REMOVED)
        assert len(removed) == 6
        assert {e.department_text for e in removed} == {"Cardiology"}
        assert len(events(verb=Verb.DELETED, target_type="department")) == 1

    def test_a_membership_moved_to_another_department(self, people):
        doctor, cardio, _, onco = people
        membership = Membership.objects.get(doctor=doctor, department=cardio)
        membership.department = onco
        membership.save()
        assert sorted(membership_events()) == [
            ("membership_added", "Dr Jane Roe", "Oncology"),
            ("membership_removed", "Dr Jane Roe", "Cardiology"),
        ]


def test_importing_the_signals_module_again_doubles_nothing():
    import doctors.signals

    importlib.reload(doctors.signals)
    DoctorFactory()
    assert len(events(verb=Verb.CREATED)) == 1
    assert DBTaskResult.objects.count() == 1


def test_fixture_loading_does_nothing(tmp_path):
    fixture = tmp_path / "doctors.json"
    fixture.write_text(
        json.dumps(
            [
                {
                    "model": "doctors.department",
                    "pk": 90,
                    "fields": {
                        "code": "FIX",
                        "name": "Fixture",
                        "description": "",
                        "created_at": "2024-01-01T00:00:00Z",
                        "updated_at": "2024-01-01T00:00:00Z",
                    },
                },
                {
                    "model": "doctors.doctor",
                    "pk": 91,
                    "fields": {
                        "license_number": "FIX-1",
                        "first_name": "F",
                        "last_name": "X",
                        "email": "f@x.test",
                        "specialty": "cardiology",
                        "created_at": "2024-01-01T00:00:00Z",
                        "updated_at": "2024-01-01T00:00:00Z",
                    },
                },
                {
                    "model": "doctors.membership",
                    "pk": 92,
                    "fields": {
                        "doctor": 91,
                        "department": 90,
                        "joined_on": "2024-01-01",
                    },
                },
            ]
        )
    )
    call_command("loaddata", str(fixture), stdout=io.StringIO())
    assert Doctor.objects.filter(pk=91).exists()
    assert not ActivityEvent.objects.exists()
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db(transaction=True)
class TestCacheGeneration:
    """Real commits: the test's own transaction would hide on_commit timing."""

    def test_one_bump_per_transaction_after_commit(self, monkeypatch):
        bumps = []
        real_bump = dashboard.bump_generation

        def counting_bump():
            bumps.append(dashboard.current_generation())
            real_bump()

        monkeypatch.setattr(dashboard, "bump_generation", counting_bump)
        before = dashboard.current_generation()
        with transaction.atomic():
            doctor = DoctorFactory()
            doctor.departments.add(*DepartmentFactory.create_batch(3))
            doctor.first_name = "Changed"
            doctor.save()
            assert bumps == []  # nothing before the commit
        assert bumps == [before]
        assert dashboard.current_generation() == before + 1

    def test_a_rollback_bumps_nothing(self, monkeypatch):
        bumps = []
        monkeypatch.setattr(dashboard, "bump_generation", lambda: bumps.append(1))
        with pytest.raises(RuntimeError), transaction.atomic():
            DoctorFactory()
            raise RuntimeError
        assert bumps == []

    def test_a_redis_error_is_logged_and_the_save_still_commits(
        self, monkeypatch, caplog
    ):
        def broken_incr(*args, **kwargs):
            raise ConnectionError("Redis is down")

        monkeypatch.setattr(cache, "incr", broken_incr)
        with caplog.at_level(logging.ERROR), transaction.atomic():
            DepartmentFactory(name="Saved anyway")
        assert Department.objects.filter(name="Saved anyway").exists()
        assert "Could not bump the dashboard cache generation" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_bulk_activate_writes_one_event_history_per_doctor_and_one_bump():
    from doctors.services import set_doctors_active

    doctors = DoctorFactory.create_batch(4, is_active=False)
    ActivityEvent.objects.all().delete()
    before = dashboard.current_generation()
    changed, already = set_doctors_active(Doctor.objects.all(), active=True)
    assert (changed, already) == (4, [])
    (event,) = events()
    assert event.verb == Verb.BULK_UPDATED
    assert event.counts == {"doctors": 4, "is_active": True}
    for doctor in doctors:
        assert doctor.history.count() == 2
        assert doctor.history.first().is_active is True
    assert dashboard.current_generation() == before + 1


def test_command_user_option_names_the_actor():
    UserFactory(username="importer")
    call_command(
        "seed_demo",
        "--doctors",
        "3",
        "--departments",
        "2",
        "--user",
        "importer",
        stdout=io.StringIO(),
    )
    bulk = events(verb=Verb.BULK_CREATED)[0]
    assert (bulk.actor_name, bulk.source) == ("importer", "command")
    assert bulk.counts["doctors"] == 3
