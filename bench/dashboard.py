"""Benchmark: the manager dashboard, cold (computed) and warm (from Redis).

Data: seed_demo with 100 000 doctors (about 200k memberships) plus 200 000 feed
events spread over the last 180 days. Each scenario is a dashboard URL; "cold"
views follow a generation bump (every block misses), "warm" views repeat the
same URL. Reported: the median time the view takes in the server (through
Django's test client: middleware, view, template) and the queries each ran.

Targets: warm at least 20x faster than cold, cold at most 1 s.
BENCH_SMOKE=1: 300 doctors and 500 events, to check that the script works.
Run through `make bench` (a fresh, migrated database). Last line: one JSON object.
"""

import datetime
import json
import os
import random
import statistics
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from doctors import dashboard  # noqa: E402
from doctors.bulk import insert_rows  # noqa: E402
from doctors.demo import seed_demo  # noqa: E402
from doctors.models import ActivityEvent, Department, Doctor  # noqa: E402

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
DOCTORS = 300 if SMOKE else 100_000
EVENTS = 500 if SMOKE else 200_000
COLD_RUNS = 3 if SMOKE else 7
WARM_RUNS = 5 if SMOKE else 30
SPAN_DAYS = 180
Verb = ActivityEvent.Verb
# Roughly what a clinic's feed holds: mostly edits and membership changes.
VERB_WEIGHTS = [
    (Verb.UPDATED, 45),
    (Verb.CREATED, 10),
    (Verb.DELETED, 2),
    (Verb.MEMBERSHIP_ADDED, 18),
    (Verb.MEMBERSHIP_CHANGED, 10),
    (Verb.MEMBERSHIP_REMOVED, 8),
    (Verb.BULK_UPDATED, 3),
    (Verb.BULK_CREATED, 1),
    (Verb.IMPORTED, 3),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seed_events(count: int) -> None:
    rng = random.Random(2026)
    doctor_ids = list(Doctor.objects.values_list("pk", flat=True))
    departments = list(Department.objects.values_list("pk", "name"))
    verbs = [verb for verb, _ in VERB_WEIGHTS]
    weights = [weight for _, weight in VERB_WEIGHTS]
    actors = [f"editor{n:02d}" for n in range(25)] + [""]
    now = timezone.now()
    columns = [
        "occurred_at",
        "actor_name",
        "source",
        "verb",
        "target_type",
        "target_id",
        "target_text",
        "department_id",
        "department_text",
        "changes",
        "counts",
    ]
    rows = []
    for _ in range(count):
        verb = rng.choices(verbs, weights)[0]
        when = now - datetime.timedelta(seconds=rng.uniform(0, SPAN_DAYS * 86400))
        department_id, department_text = None, ""
        target_type, target_id, counts = "doctor", rng.choice(doctor_ids), {}
        changes = {"phone": ["+1 555 0100", "+1 555 0199"]}
        if verb.startswith("membership"):
            department_id, department_text = rng.choice(departments)
            changes = {"role": [None, "member"]}
        elif verb == Verb.IMPORTED:
            target_id, changes = None, {}
            counts = {"created": rng.randint(0, 500), "updated": 20, "errors": 1}
        elif rng.random() < 0.1:
            target_type = "department"
            target_id, _ = rng.choice(departments)
        rows.append(
            (
                when,
                rng.choice(actors),
                "import" if verb == Verb.IMPORTED else "admin",
                verb,
                target_type,
                target_id,
                f"Target {target_id}",
                department_id,
                department_text,
                changes,
                counts,
            )
        )
        if len(rows) == 20_000:
            insert_rows(ActivityEvent, columns, rows)
            rows = []
    insert_rows(ActivityEvent, columns, rows)


def timed_get(client: Client, url: str) -> tuple[float, int]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(url, HTTP_HOST="127.0.0.1", secure=True)
        elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return elapsed, len(queries.captured_queries)


def measure(client: Client, url: str) -> dict:
    cold, warm = [], []
    cold_queries = warm_queries = 0
    for _ in range(COLD_RUNS):
        dashboard.bump_generation()  # every block misses
        elapsed, cold_queries = timed_get(client, url)
        cold.append(elapsed)
        for _ in range(WARM_RUNS // COLD_RUNS + 1):
            elapsed, warm_queries = timed_get(client, url)
            warm.append(elapsed)
    cold_ms = statistics.median(cold) * 1000
    warm_ms = statistics.median(warm) * 1000
    return {
        "url": url,
        "cold_ms": round(cold_ms, 1),
        "warm_ms": round(warm_ms, 2),
        "speedup": round(cold_ms / warm_ms, 1),
        "cold_queries": cold_queries,
        "warm_queries": warm_queries,
    }


def main() -> None:
    started = time.perf_counter()
    report = seed_demo(doctors=DOCTORS, departments=18, password="bench-password")
    seed_events(EVENTS)
    seeded_s = time.perf_counter() - started
    log(
        f"seeded {report.doctors_created} doctors, {report.memberships_created} "
        f"memberships, {ActivityEvent.objects.count()} events in {seeded_s:.1f} s"
    )
    if dashboard.current_generation() is None:
        raise SystemExit("Redis does not answer: a warm view cannot be measured")
    with connection.cursor() as cursor:
        # Fresh planner statistics, and on PostgreSQL the visibility map that
        # index-only scans need: what autovacuum keeps up in production.
        cursor.execute(
            "VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE"
        )
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    busiest = Department.objects.order_by("name").first()
    scenarios = {
        "default (30 days)": "/admin/dashboard/",
        "90 days": "/admin/dashboard/?period=90",
        "90 days, one department": (
            f"/admin/dashboard/?period=90&department={busiest.pk}"
        ),
    }
    results = {}
    for name, url in scenarios.items():
        results[name] = measure(client, url)
        log(f"{name}: {results[name]}")
    worst_cold = max(result["cold_ms"] for result in results.values())
    worst_speedup = min(result["speedup"] for result in results.values())
    summary = {
        "benchmark": "dashboard",
        "database": connection.vendor,
        "smoke": SMOKE,
        "doctors": Doctor.objects.count(),
        "memberships": report.memberships_created,
        "events": ActivityEvent.objects.count(),
        "scenarios": results,
        "worst_cold_ms": worst_cold,
        "worst_speedup": worst_speedup,
        "target_cold_ms": 1000,
        "target_speedup": 20,
        "meets_targets": worst_cold <= 1000 and worst_speedup >= 20,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
