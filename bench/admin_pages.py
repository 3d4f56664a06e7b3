"""Benchmark: every admin page staff open, at 1k and at 100k doctors.

Data: seed_demo (12 departments: each holds about a sixth of the doctors, so at
100 000 doctors the largest has over 15 000 members) plus a department of 5,
feed events, one doctor with HISTORY_ROWS history rows and as many membership
events, and a previewed doctor import of the whole list (every doctor, some
with a changed phone, some rows with a problem), made through the importer
the admin uses.

Each page is requested as the user who opens it ("staff": Clinic staff;
"manager": Managers): index; each changelist plain, searched and with each
filter; add and change pages of the largest department, of a small one and of
a doctor; the largest department's member management (searched, filtered,
sorted, page 2); each autocomplete; history pages; the feed; the import form
and the import run's pages; the dashboard. Saves: the largest department's
form and a doctor's form, with every field the page holds as a browser sends
it, and one row of the member list.

Reported per page: status, server time (median of 3, through Django's test
client: middleware, view, template), the part of it spent in SQL, queries,
HTML size. The whole list runs
first at SMALL_DOCTORS to compare query counts with the full size.
Targets at full size: every page <= 300 ms and <= 500 kB, every save <= 1 s,
search and autocomplete <= 50 ms, queries within 2 of the small size.
BENCH_SMOKE=1: 100 then 300 doctors; fails on any error status.
Run through `make bench` (a fresh, migrated database). Last line: one JSON object.
"""

import csv
import datetime
import io
import json
import os
import random
import statistics
import sys
import time
from urllib.parse import quote

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from doctors import exporting  # noqa: E402
from doctors.bulk import insert_rows  # noqa: E402
from doctors.demo import seed_demo  # noqa: E402
from doctors.importing.runner import DOCTORS, run_import  # noqa: E402
from doctors.models import (  # noqa: E402
    ActivityEvent,
    Department,
    Doctor,
    ImportRun,
    Membership,
)
from doctors.resources import DOCTOR_COLUMNS  # noqa: E402
from tests.admin_forms import as_post_data, submitted_fields  # noqa: E402

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
SMALL_DOCTORS = 100 if SMOKE else 1_000
FULL_DOCTORS = 300 if SMOKE else 100_000
EVENTS = 500 if SMOKE else 100_000
HISTORY_ROWS = 300 if SMOKE else 100_000
RUNS = 3
PAGE_MS, PAGE_KB, SAVE_MS, SEARCH_MS, QUERY_SLACK = 300, 500, 1000, 50, 2
HOST = {"HTTP_HOST": "127.0.0.1", "secure": True}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Data ----------------------------------------------------------------------------


def seed(doctors: int) -> None:
    started = time.perf_counter()
    seed_demo(doctors=doctors, departments=12, password="bench-password")
    small, created = Department.objects.get_or_create(
        code="SMALL", defaults={"name": "Small ward"}
    )
    if created:
        for doctor in Doctor.objects.order_by("pk")[:5]:
            Membership.objects.create(doctor=doctor, department=small)
    elapsed = time.perf_counter() - started
    log(f"seeded {Doctor.objects.count()} doctors in {elapsed:.1f} s")


def seed_feed_and_history(events: int, history_rows: int) -> Doctor:
    """Feed events spread over 90 days, and one doctor with a long history."""
    rng = random.Random(2026)
    doctors = {
        pk: f"Dr {first} {last}"
        for pk, first, last in Doctor.objects.order_by("pk").values_list(
            "pk", "first_name", "last_name"
        )[:5000]
    }
    doctor_ids = list(doctors)
    departments = list(Department.objects.values_list("pk", "name"))
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
    busy = Doctor.objects.order_by("pk").first()
    rows = []
    for index in range(events + history_rows):
        when = now - datetime.timedelta(seconds=rng.uniform(0, 90 * 86400))
        if index < history_rows:
            target_id = busy.pk
            department_id, department_text = departments[0]
            verb = "membership_changed"
            changes = {"joined_on": ["2024-01-01", "2024-02-01"]}
        else:
            target_id = rng.choice(doctor_ids)
            department_id, department_text = None, ""
            verb = "updated"
            changes = {"phone": ["+1 555 0100", "+1 555 0199"]}
            if rng.random() < 0.4:
                department_id, department_text = rng.choice(departments)
                verb = "membership_added"
                changes = {"role": [None, "member"]}
        rows.append(
            (
                when,
                f"editor{rng.randrange(25):02d}",
                "admin",
                verb,
                "doctor",
                target_id,
                doctors[target_id],
                department_id,
                department_text,
                changes,
                {},
            )
        )
        if len(rows) == 20_000:
            insert_rows(ActivityEvent, columns, rows)
            rows = []
    insert_rows(ActivityEvent, columns, rows)
    history = Doctor.history.model
    batch = []
    for index in range(history_rows):
        batch.append(
            history(
                id=busy.pk,
                license_number=busy.license_number,
                first_name=busy.first_name,
                last_name=busy.last_name,
                email=busy.email,
                phone=f"+1 555 {index:07d}",
                specialty=busy.specialty,
                is_active=busy.is_active,
                created_at=busy.created_at,
                history_date=now - datetime.timedelta(seconds=index),
                history_type="~",
            )
        )
        if len(batch) == 10_000:
            history.objects.bulk_create(batch)
            batch = []
    history.objects.bulk_create(batch)
    return busy


def previewed_import(staff) -> ImportRun:
    """Preview of a doctor file as large as the list: some changes, some problems."""
    rows = list(exporting.doctor_rows(Doctor.objects.order_by("pk")))
    phone, email = DOCTOR_COLUMNS.index("phone"), DOCTOR_COLUMNS.index("email")
    for number in range(1, len(rows), 50):  # a changed phone every 50 rows
        rows[number][phone] = f"+44 20 7946 {number % 10000:04d}"
    for number in range(25, len(rows), 1000):  # a problem every 1000 rows
        rows[number][email] = "not-an-email"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    content = buffer.getvalue().encode()
    run = ImportRun.objects.create(
        kind=DOCTORS.name,
        status=ImportRun.Status.RUNNING,
        user=staff,
        source=ActivityEvent.Source.ADMIN,
        file_name="doctors.csv",
        dry_run=True,
        content=content,
    )
    started = time.perf_counter()
    run_import(
        DOCTORS,
        io.BytesIO(content),
        file_name=run.file_name,
        user=staff,
        dry_run=True,
        run=run,
        source=ActivityEvent.Source.ADMIN,
    )
    run.refresh_from_db()
    log(
        f"previewed an import of {run.total_rows} rows in "
        f"{time.perf_counter() - started:.1f} s: {run.updated} changes, "
        f"{run.error_count} problems"
    )
    return run


# Requests ------------------------------------------------------------------------


def timed(call) -> tuple[float, object, int]:
    elapsed, response, queries, _ = timed_with_db(call)
    return elapsed, response, queries


def timed_with_db(call) -> tuple[float, object, int, float]:
    """Server time, response, queries and the time spent in those queries."""
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = call()
        elapsed = time.perf_counter() - started
    db = sum(float(query["time"]) for query in queries.captured_queries)
    return elapsed, response, len(queries.captured_queries), db


def measure_get(client: Client, url: str, runs: int) -> dict:
    times, db_times, queries, response = [], [], 0, None
    for _ in range(runs):
        elapsed, response, queries, db = timed_with_db(lambda: client.get(url, **HOST))
        times.append(elapsed)
        db_times.append(db)
        if response.status_code != 200:
            break
    return {
        "status": response.status_code,
        "ms": round(statistics.median(times) * 1000, 1),
        "db_ms": round(statistics.median(db_times) * 1000, 1),
        "queries": queries,
        "kb": round(len(response.content) / 1024, 1),
    }


def page_list(ids: dict) -> list[tuple[str, str, str, str]]:
    """(name, user, kind, url); kind: page, search or autocomplete."""
    doctor = reverse("admin:doctors_doctor_changelist")
    department = reverse("admin:doctors_department_changelist")
    members = reverse("admin:doctors_membership_changelist")
    feed = reverse("admin:doctors_activityevent_changelist")
    runs = reverse("admin:doctors_importrun_changelist")
    scoped = f"{members}?department={ids['largest']}"
    autocomplete = reverse("admin:autocomplete") + "?app_label=doctors&model_name="
    pages = [
        ("index", "staff", "page", reverse("admin:index")),
        ("doctors", "staff", "page", doctor),
        ("doctors ?q=name", "staff", "search", f"{doctor}?q={ids['surname']}"),
        ("doctors ?q=license", "staff", "search", f"{doctor}?q=DEMO-0004"),
        ("doctors ?q=email", "staff", "search", f"{doctor}?q={ids['email']}"),
        ("doctors specialty", "staff", "page", f"{doctor}?specialty=cardiology"),
        (
            "doctors department",
            "staff",
            "page",
            f"{doctor}?departments__id__exact={ids['largest']}",
        ),
        ("doctors active", "staff", "page", f"{doctor}?is_active__exact=0"),
        ("departments", "staff", "page", department),
        ("departments ?q", "staff", "search", f"{department}?q=card"),
        ("departments active", "staff", "page", f"{department}?is_active__exact=1"),
        ("memberships", "staff", "page", members),
        ("members of largest", "staff", "page", scoped),
        ("members ?q=name", "staff", "search", f"{scoped}&q={ids['surname']}"),
        ("members ?q=license", "staff", "search", f"{scoped}&q=DEMO-00012"),
        ("members role=head", "staff", "page", f"{scoped}&role=head"),
        ("members primary", "staff", "page", f"{scoped}&is_primary__exact=1"),
        ("members inactive", "staff", "page", f"{scoped}&doctor__is_active__exact=0"),
        ("members sorted", "staff", "page", f"{scoped}&o=-5"),
        ("members page 2", "staff", "page", f"{scoped}&p=2"),
        ("members of a doctor", "staff", "page", f"{members}?doctor={ids['doctor']}"),
        ("members (manager)", "manager", "page", scoped),
        (
            "department add",
            "staff",
            "page",
            reverse("admin:doctors_department_add"),
        ),
        (
            "largest department",
            "staff",
            "page",
            reverse("admin:doctors_department_change", args=[ids["largest"]]),
        ),
        (
            "largest department (manager)",
            "manager",
            "page",
            reverse("admin:doctors_department_change", args=[ids["largest"]]),
        ),
        (
            "small department",
            "staff",
            "page",
            reverse("admin:doctors_department_change", args=[ids["small"]]),
        ),
        ("doctor add", "staff", "page", reverse("admin:doctors_doctor_add")),
        (
            "doctor",
            "staff",
            "page",
            reverse("admin:doctors_doctor_change", args=[ids["doctor"]]),
        ),
        (
            "doctor (manager)",
            "manager",
            "page",
            reverse("admin:doctors_doctor_change", args=[ids["doctor"]]),
        ),
        (
            "add doctors form",
            "staff",
            "page",
            reverse("admin:doctors_membership_add_doctors")
            + f"?department={ids['largest']}",
        ),
        (
            "autocomplete doctor",
            "staff",
            "autocomplete",
            f"{autocomplete}membership&field_name=doctor&term={ids['surname'][:4]}",
        ),
        (
            "autocomplete doctor license",
            "staff",
            "autocomplete",
            f"{autocomplete}membership&field_name=doctor&term=DEMO-0009",
        ),
        (
            "autocomplete department",
            "staff",
            "autocomplete",
            f"{autocomplete}membership&field_name=department&term=car",
        ),
        (
            "history of busy doctor",
            "staff",
            "page",
            reverse("admin:doctors_doctor_history", args=[ids["busy"]]),
        ),
        (
            "history of busy doctor p.500",
            "staff",
            "page",
            reverse("admin:doctors_doctor_history", args=[ids["busy"]])
            + "?p=500&events_page=500",
        ),
        (
            "history of largest department",
            "staff",
            "page",
            reverse("admin:doctors_department_history", args=[ids["largest"]]),
        ),
        ("feed", "staff", "page", feed),
        ("feed ?q", "staff", "search", f"{feed}?q={ids['surname']}"),
        ("feed verb", "staff", "page", f"{feed}?verb__exact=membership_added"),
        ("feed source", "staff", "page", f"{feed}?source__exact=admin"),
        ("feed actor", "staff", "page", f"{feed}?actor__id__exact={ids['staff']}"),
        (
            "feed today",
            "staff",
            "page",
            f"{feed}?occurred_at__gte={quote(ids['today'])}",
        ),
        ("feed (manager)", "manager", "page", feed),
        ("import runs", "staff", "page", runs),
        (
            "import run (log)",
            "staff",
            "page",
            reverse("admin:doctors_importrun_change", args=[ids["run"]]),
        ),
        ("import form", "staff", "page", reverse("admin:doctors_doctor_import")),
        (
            "import preview",
            "staff",
            "page",
            reverse("admin:doctors_doctor_import_run", args=[ids["run"]]),
        ),
        (
            "import progress",
            "staff",
            "page",
            reverse("admin:doctors_doctor_import_progress", args=[ids["run"]]),
        ),
        ("dashboard", "manager", "page", reverse("admin:dashboard")),
    ]
    return [(n, u, k, url.replace(" ", "+")) for n, u, k, url in pages]


def save_department(client: Client, pk: int, round_: int) -> tuple[float, int, int]:
    url = reverse("admin:doctors_department_change", args=[pk])
    page = client.get(url, **HOST)
    data = as_post_data(submitted_fields(page.content.decode(), "department_form"))
    data["description"] = [f"Saved by the benchmark, round {round_}."]
    elapsed, response, queries = timed(lambda: client.post(url, data, **HOST))
    return elapsed, response.status_code, queries, len(data)


def save_doctor(client: Client, pk: int, round_: int) -> tuple[float, int, int]:
    url = reverse("admin:doctors_doctor_change", args=[pk])
    page = client.get(url, **HOST)
    data = as_post_data(submitted_fields(page.content.decode(), "doctor_form"))
    data["phone"] = [f"+1 555 {round_:04d}"]
    elapsed, response, queries = timed(lambda: client.post(url, data, **HOST))
    return elapsed, response.status_code, queries, len(data)


def save_member_row(client: Client, pk: int, round_: int) -> tuple[float, int, int]:
    url = reverse("admin:doctors_membership_changelist") + f"?department={pk}"
    page = client.get(url, **HOST)
    data = as_post_data(submitted_fields(page.content.decode(), "changelist-form"))
    data["form-1-joined_on"] = [f"2020-01-{round_ + 1:02d}"]
    data["_save"] = ["Save"]
    elapsed, response, queries = timed(lambda: client.post(url, data, **HOST))
    return elapsed, response.status_code, queries, sum(map(len, data.values()))


def measure_saves(client: Client, ids: dict) -> dict:
    saves = {
        "largest department form": (save_department, ids["largest"]),
        "doctor form": (save_doctor, ids["doctor"]),
        "member list row": (save_member_row, ids["largest"]),
    }
    results = {}
    for name, (save, pk) in saves.items():
        times, statuses, queries, fields = [], [], 0, 0
        for round_ in range(RUNS):
            elapsed, status, queries, fields = save(client, pk, round_)
            times.append(elapsed)
            statuses.append(status)
        status = next((s for s in statuses if s != 302), 302)
        results[name] = {
            "status": status,
            "ms": round(statistics.median(times) * 1000, 1),
            "queries": queries,
            "fields": fields,
        }
    return results


def clients() -> dict[str, Client]:
    users = get_user_model().objects
    result = {}
    for name in ("staff", "manager"):
        client = Client()
        client.force_login(users.get(username=name))
        result[name] = client
    return result


def identify(run: ImportRun, busy: Doctor) -> dict:
    largest = (
        Department.objects.annotate(n=Count("memberships")).order_by("-n", "pk").first()
    )
    doctor = (
        Doctor.objects.annotate(n=Count("memberships"))
        .filter(n__gte=2)
        .order_by("pk")
        .first()
    )
    surname = (
        Doctor.objects.values("last_name")
        .annotate(n=Count("pk"))
        .order_by("-n", "last_name")
        .first()["last_name"]
    )
    return {
        "largest": largest.pk,
        "largest_members": largest.n,
        "small": Department.objects.get(code="SMALL").pk,
        "doctor": doctor.pk,
        "busy": busy.pk,
        "surname": surname,
        # The start of an email as typed: "firstname.lastname.123".
        "email": doctor.email.split("@")[0],
        "run": run.pk,
        "staff": get_user_model().objects.get(username="staff").pk,
        "today": timezone.localtime()
        .replace(hour=0, minute=0, second=0, microsecond=0)
        .isoformat(),
    }


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE"
        )


def run_pages(ids: dict, runs: int) -> dict:
    by_user = clients()
    results = {}
    for name, user, kind, url in page_list(ids):
        by_user[user].get(url, **HOST)  # warm: sessions, permissions, templates
        result = measure_get(by_user[user], url, runs)
        results[name] = {"user": user, "kind": kind, "url": url, **result}
    return results


def main() -> None:
    seed(SMALL_DOCTORS)
    staff = get_user_model().objects.get(username="staff")
    busy = seed_feed_and_history(EVENTS // 100, HISTORY_ROWS // 100)
    run = previewed_import(staff)
    analyze()
    small_ids = identify(run, busy)
    small = run_pages(small_ids, runs=1)
    log(f"{SMALL_DOCTORS} doctors: query counts of {len(small)} pages taken")

    seed(FULL_DOCTORS)
    seed_feed_and_history(EVENTS, HISTORY_ROWS)
    run = previewed_import(staff)
    analyze()
    ids = identify(run, busy)
    log(f"largest department: {ids['largest_members']} members")
    pages = run_pages(ids, runs=RUNS)
    saves = measure_saves(clients()["staff"], ids)

    failures = []
    header = f"{'page':34} {'user':8} {'status':>6} {'ms':>8} {'db ms':>7} "
    header += f"{'queries':>7} "
    header += f"{'small q':>7} {'kB':>8}"
    print(header)
    for name, result in pages.items():
        result["small_queries"] = small[name]["queries"]
        limit = SEARCH_MS if result["kind"] in ("search", "autocomplete") else PAGE_MS
        problems = []
        if result["status"] != 200:
            problems.append(f"status {result['status']}")
        if result["ms"] > limit:
            problems.append(f"{result['ms']} ms > {limit}")
        if result["kb"] > PAGE_KB:
            problems.append(f"{result['kb']} kB > {PAGE_KB}")
        if abs(result["queries"] - result["small_queries"]) > QUERY_SLACK:
            problems.append(f"queries {result['small_queries']} -> {result['queries']}")
        result["ok"] = not problems
        if problems:
            failures.append(f"{name}: {', '.join(problems)}")
        print(
            f"{name:34} {result['user']:8} {result['status']:>6} {result['ms']:>8} "
            f"{result['db_ms']:>7} {result['queries']:>7} "
            f"{result['small_queries']:>7} {result['kb']:>8}"
            f"{'' if result['ok'] else '  <-- ' + '; '.join(problems)}"
        )
    print(f"\n{'save':34} {'status':>6} {'ms':>8} {'queries':>7} {'fields':>7}")
    for name, result in saves.items():
        problems = []
        if result["status"] != 302:
            problems.append(f"status {result['status']}")
        if result["ms"] > SAVE_MS:
            problems.append(f"{result['ms']} ms > {SAVE_MS}")
        result["ok"] = not problems
        if problems:
            failures.append(f"save {name}: {', '.join(problems)}")
        note = "" if result["ok"] else "  <-- " + "; ".join(problems)
        print(
            f"{name:34} {result['status']:>6} {result['ms']:>8} {result['queries']:>7}"
            f" {result['fields']:>7}{note}"
        )
    errors = [
        name for name, r in {**pages, **saves}.items() if r["status"] not in (200, 302)
    ]
    summary = {
        "benchmark": "admin_pages",
        "database": connection.vendor,
        "smoke": SMOKE,
        "doctors": Doctor.objects.count(),
        "small_doctors": SMALL_DOCTORS,
        "largest_department_members": ids["largest_members"],
        "history_rows": HISTORY_ROWS,
        "import_rows": run.total_rows,
        "pages": pages,
        "saves": saves,
        "worst_page_ms": max(r["ms"] for r in pages.values() if r["kind"] == "page"),
        "worst_search_ms": max(r["ms"] for r in pages.values() if r["kind"] != "page"),
        "worst_page_kb": max(r["kb"] for r in pages.values()),
        "worst_save_ms": max(r["ms"] for r in saves.values()),
        "worst_query_growth": max(
            abs(r["queries"] - r["small_queries"]) for r in pages.values()
        ),
        "targets": {
            "page_ms": PAGE_MS,
            "page_kb": PAGE_KB,
            "search_ms": SEARCH_MS,
            "save_ms": SAVE_MS,
            "query_growth": QUERY_SLACK,
        },
        "error_statuses": errors,
        "failures": failures,
        "meets_targets": not failures,
    }
    print(json.dumps(summary))
    if errors:
        # Any error status fails the run, smoke or full size.
        sys.exit(1)


if __name__ == "__main__":
    main()
