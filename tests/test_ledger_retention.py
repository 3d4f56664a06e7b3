"""Retention (doctors.ledger.retention) and the worker's daily history work."""

import datetime
import logging

import pytest
from django.utils import timezone

from doctors.context import acting_as
from doctors.health import health_report
from doctors.ledger import chain, daily, retention
from doctors.ledger.verify import verify
from doctors.models import ActivityEvent, Doctor, Erasure
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db


LATER = datetime.timedelta(days=400)


@pytest.fixture
def doctors(settings, tmp_path):
    """Seen 400 days from now: all were last changed then, except "recent",
    changed 20 days before (the doctor row is not part of the history chain,
    so its time can be moved; history rows cannot, without the chain
    noticing)."""
    settings.ERASURE_REPLAY_FILE = str(tmp_path / "erasures.jsonl")
    with acting_as(description="set-up"):
        cardiology = DepartmentFactory()
        gone = DoctorFactory(first_name="Gone", is_active=False)
        recent = DoctorFactory(first_name="Recent", is_active=False)
        active = DoctorFactory(first_name="Active")
        member = DoctorFactory(first_name="Member", is_active=False)
        member.departments.add(cardiology)
    Doctor.objects.filter(pk=recent.pk).update(
        updated_at=timezone.now() + LATER - datetime.timedelta(days=20)
    )
    return {"gone": gone, "recent": recent, "active": active, "member": member}


def test_retention_is_off_by_default(doctors):
    assert retention.sweep(now=timezone.now() + LATER) == 0
    assert not Erasure.objects.exists()


def test_retention_erases_only_the_doctors_past_the_period(doctors, settings):
    settings.PERSONAL_DATA_RETENTION_DAYS = 365
    assert retention.sweep(now=timezone.now() + LATER) == 1
    assert list(Erasure.objects.values_list("doctor_id", flat=True)) == [
        doctors["gone"].pk
    ]
    assert Doctor.objects.get(pk=doctors["gone"].pk).first_name == "Erased doctor"
    report = ActivityEvent.objects.filter(verb="erased", target_id=None).get()
    assert report.counts == {"doctors erased": 1, "retention days": 365}
    assert "Retention: personal data of 1 doctor(s) erased" in report.target_text
    assert retention.sweep(now=timezone.now() + LATER) == 0  # nothing left
    assert verify().ok


def test_a_doctor_who_left_long_ago_is_due_and_a_current_member_is_not(
    doctors, settings
):
    """Past periods are the record, not a reason to keep the personal data:
    a doctor whose last period ended before the cutoff is due."""
    settings.PERSONAL_DATA_RETENTION_DAYS = 365
    with acting_as(description="set-up"):
        leaver = DoctorFactory(first_name="Leaver", is_active=False)
        leaver.departments.add(
            DepartmentFactory(),
            through_defaults={"joined_on": datetime.date(2020, 1, 1)},
        )
        leaver.departments.clear()  # the period ends yesterday
    assert leaver.memberships(manager="objects").get().left_on is not None
    due = set(retention.due_doctors(now=timezone.now() + LATER))
    assert due == {doctors["gone"], leaver}
    # Still in a department when the period ends after the cutoff day.
    assert doctors["member"] not in due


def test_the_daily_work_logs_the_anchor(doctors, caplog):
    with caplog.at_level(logging.INFO, logger="doctors.ledger"):
        daily.run()
    assert f"History chain anchor: {chain.anchor()}" in caplog.text


def test_healthz_shows_the_anchor(doctors):
    report = health_report()
    assert report["checks"]["history"]["anchor"] == str(chain.anchor())
    assert str(chain.anchor()).split()[1] == "1"


def test_the_worker_loop_runs_the_daily_work_once_a_day(monkeypatch):
    """At start, then not again for a day."""
    from doctors.worker import HeartbeatWorker

    calls = []
    monkeypatch.setattr(daily, "run", lambda: calls.append(1))
    monkeypatch.setattr(HeartbeatWorker, "beat", lambda self: None)
    monkeypatch.setattr(HeartbeatWorker, "sweep", lambda self: None)
    worker = HeartbeatWorker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="w1",
        excluded_queue_names=[],
    )
    assert worker.running and worker.running
    assert calls == [1]
