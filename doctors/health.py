"""/healthz: is this instance able to serve? JSON for load balancers and people.

Healthy means: the database answers, the cache (Redis) answers, and no task has
waited longer than HEALTH_TASK_MAX_WAIT_SECONDS while no worker is alive. A
worker is alive when its heartbeat (doctors.worker) is younger than
HEALTH_WORKER_STALE_SECONDS. An idle clinic with no worker running is healthy:
nothing is waiting. Tasks that failed for good, and welcome emails given up on,
are counted but do not make the instance unhealthy.

The answer names no host, user, URL or error message (those can carry
credentials): only states, ages, counts and exception class names.
"""

import datetime
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections, router
from django.db.models import Count, Max, Min, Q
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_tasks_db.models import DBTaskResult

from .ledger import chain
from .models import WelcomeEmailFailure, WorkerHeartbeat

PROBE_KEY = "healthz:probe"


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as error:
        result = {"ok": False, "error": type(error).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict[str, Any]:
    with connections[router.db_for_write(WorkerHeartbeat)].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def check_cache() -> dict[str, Any]:
    # With IGNORE_EXCEPTIONS the Redis backend answers None on a connection
    # error or timeout, and True/False when it could ask.
    answered = cache.has_key(PROBE_KEY)
    if answered is None:
        return {"ok": False, "error": "unreachable"}
    return {"ok": True}


def check_worker() -> dict[str, Any]:
    now = timezone.now()
    stale_after = _setting("HEALTH_WORKER_STALE_SECONDS", 60)
    max_wait = _setting("HEALTH_TASK_MAX_WAIT_SECONDS", 300)
    beats = WorkerHeartbeat.objects.aggregate(
        last=Max("last_beat_at"),
        live=Count(
            "id",
            filter=Q(last_beat_at__gte=now - datetime.timedelta(seconds=stale_after)),
        ),
    )
    pending = DBTaskResult.objects.ready().aggregate(
        count=Count("id"), oldest=Min("enqueued_at")
    )
    oldest_wait = (now - pending["oldest"]).total_seconds() if pending["oldest"] else 0
    live_workers = beats["live"]
    return {
        "ok": not (oldest_wait > max_wait and live_workers == 0),
        "live_workers": live_workers,
        "last_heartbeat": beats["last"].isoformat() if beats["last"] else None,
        "heartbeat_age_seconds": (
            round((now - beats["last"]).total_seconds(), 1) if beats["last"] else None
        ),
        "pending_tasks": pending["count"],
        "oldest_pending_seconds": round(oldest_wait, 1),
        # Failed for good: nothing will run them again. Worth a look, but the
        # instance still serves, so they do not make it unhealthy.
        "failed_tasks": DBTaskResult.objects.failed().count(),
        "welcome_emails_given_up": WelcomeEmailFailure.objects.filter(
            gave_up=True
        ).count(),
    }


def check_history() -> dict[str, Any]:
    """The history chain's head (manage.py history_anchor), for monitors that
    keep it outside the database; it does not make the instance unhealthy."""
    return {"ok": True, "anchor": str(chain.anchor())}


def health_report() -> dict[str, Any]:
    checks = {"database": _timed(check_database), "cache": _timed(check_cache)}
    if checks["database"]["ok"]:
        checks["worker"] = _timed(check_worker)
        checks["history"] = _timed(check_history)
    else:
        checks["worker"] = {"ok": False, "error": "database unavailable"}
    healthy = all(check["ok"] for check in checks.values())
    return {"status": "ok" if healthy else "unhealthy", "checks": checks}


@never_cache
@require_safe
def healthz(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
