"""/healthz (doctors/health.py) and the worker heartbeat (doctors/worker.py)."""

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from doctors import tasks
from doctors.models import WelcomeEmailFailure, WorkerHeartbeat

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on port 9
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": 0.2,
            "SOCKET_TIMEOUT": 0.2,
            "IGNORE_EXCEPTIONS": True,
        },
    }
}


def healthz(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


def queue_task(*, waited: datetime.timedelta) -> None:
    tasks.send_welcome_emails.enqueue([])
    DBTaskResult.objects.update(enqueued_at=timezone.now() - waited)


def heartbeat(age: datetime.timedelta) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="w1",
        hostname="host",
        pid=1,
        started_at=now - age,
        last_beat_at=now - age,
    )


def test_healthy_without_login_and_with_the_worker_state(client):
    """200 when all is well; anyone may ask (load balancers do not log in)."""
    heartbeat(datetime.timedelta(seconds=3))
    status, body = healthz(client)
    assert status == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["cache"]["ok"]
    worker = body["checks"]["worker"]
    assert worker["ok"] and worker["live_workers"] == 1
    assert 2 <= worker["heartbeat_age_seconds"] < 30
    assert worker["pending_tasks"] == 0


def test_no_worker_and_nothing_waiting_is_healthy(client):
    status, body = healthz(client)
    assert status == 200
    assert body["checks"]["worker"]["last_heartbeat"] is None


def test_tasks_waiting_too_long_with_no_live_worker_is_unhealthy(client, settings):
    settings.HEALTH_TASK_MAX_WAIT_SECONDS = 60
    heartbeat(datetime.timedelta(minutes=10))  # a worker that died
    queue_task(waited=datetime.timedelta(minutes=5))
    status, body = healthz(client)
    assert status == 503
    worker = body["checks"]["worker"]
    assert (worker["ok"], worker["live_workers"], worker["pending_tasks"]) == (
        False,
        0,
        1,
    )
    assert worker["oldest_pending_seconds"] >= 300


def test_tasks_waiting_with_a_live_worker_is_healthy(client, settings):
    """A busy worker is not a dead one."""
    settings.HEALTH_TASK_MAX_WAIT_SECONDS = 60
    heartbeat(datetime.timedelta(seconds=5))
    queue_task(waited=datetime.timedelta(minutes=5))
    assert healthz(client)[0] == 200


def test_tasks_failed_for_good_are_counted_without_making_it_unhealthy(client):
    """A failed task (and a welcome email given up on) is news, not an outage."""
    from tests.factories import DoctorFactory

    doctor = DoctorFactory()
    DBTaskResult.objects.update(status="FAILED")
    WelcomeEmailFailure.objects.create(doctor=doctor, reason="refused", gave_up=True)
    status, body = healthz(client)
    assert status == 200
    worker = body["checks"]["worker"]
    assert (worker["failed_tasks"], worker["welcome_emails_given_up"]) == (1, 1)


def test_redis_unreachable_is_unhealthy(client):
    with override_settings(CACHES=UNREACHABLE_REDIS):
        status, body = healthz(client)
    assert status == 503
    assert body["checks"]["cache"] == {
        "ok": False,
        "error": "unreachable",
        "ms": body["checks"]["cache"]["ms"],
    }


def test_database_unreachable_is_unhealthy_and_tells_no_secrets(client, monkeypatch):
    """The error class is reported, never its message (it may hold credentials)."""

    def refuse(*args, **kwargs):
        raise OperationalError('connection failed: password="s3cret" host=db.internal')

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert body["checks"]["worker"] == {"ok": False, "error": "database unavailable"}
    assert b"s3cret" not in response.content and b"db.internal" not in response.content


def test_the_answer_carries_no_configuration(client, settings):
    text = client.get("/healthz").content.decode()
    for secret in [settings.SECRET_KEY, settings.REDIS_URL, "127.0.0.1", "redis://"]:
        assert secret not in text


# The worker closes and reopens its database connection as it loops, as
# db_worker does: it needs real commits, not the test's wrapping transaction.
@pytest.mark.django_db(transaction=True)
def test_run_worker_records_a_heartbeat_and_runs_tasks(mailoutbox):
    """The worker command runs queued tasks and leaves a fresh heartbeat."""
    from tests.factories import DoctorFactory

    doctor = DoctorFactory()  # queues its welcome email
    call_command(
        "run_worker",
        "--batch",
        "--no-reload",
        "--no-startup-delay",
        "--worker-id",
        "test-worker",
        stdout=io.StringIO(),
    )
    beat = WorkerHeartbeat.objects.get(worker_id="test-worker")
    assert timezone.now() - beat.last_beat_at < datetime.timedelta(seconds=30)
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"  # the welcome email
    assert [m.to for m in mailoutbox] == [[doctor.email]]


def test_plain_http_probes_are_not_redirected(client, settings):
    """With HTTPS enforced, /healthz still answers a plain-HTTP probe."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/").status_code == 301
