"""Benchmark: a department's members on a past date, from the history tables.

Builds a history of MEMBERS current members in one department (CARD) among
HISTORY_ROWS history rows in all (doctor and membership rows of 49 other
departments around it, spread over a year), then asks "who was in CARD on
day 250" through doctors.timetravel.moments.department_members_on (the query
behind the admin page and `manage.py members`).
Target: <= 1.0 s for the answer (median of REPEAT runs; the first, cold run is
reported too).

MEMBERS = 15,000 (BENCH_MEMBERS), HISTORY_ROWS = 1,000,000 (BENCH_HISTORY_ROWS);
BENCH_SMOKE=1 runs 300 members among 10,000 rows. The last line printed is one
JSON object.
"""

import datetime
import json
import os
import random
import statistics
import sys
import time

import django

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
MEMBERS = int(os.environ.get("BENCH_MEMBERS", 300 if SMOKE else 15_000))
HISTORY_ROWS = int(os.environ.get("BENCH_HISTORY_ROWS", 10_000 if SMOKE else 1_000_000))
DEPARTMENTS = 50
REPEAT = 5
TARGET_SECONDS = 1.0
QUERY_DAY = 250
START = datetime.datetime(2025, 1, 1, 8, tzinfo=datetime.UTC)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def when(rng: random.Random, first_day: int, last_day: int) -> datetime.datetime:
    return START + datetime.timedelta(
        days=rng.randint(first_day, last_day), seconds=rng.randint(0, 36_000)
    )


def build_history() -> tuple[int, dict]:
    """Write the history rows; return CARD's id and what the answer must be."""
    from doctors.bulk import insert_rows
    from doctors.models import Department, Doctor, Membership

    rng = random.Random(13)
    Department.objects.bulk_create(
        Department(code=f"DEP{n:02d}", name=f"Department {n:02d}")
        for n in range(DEPARTMENTS - 1)
    )
    card = Department.objects.create(code="CARD", name="Cardiology")
    others = list(Department.objects.exclude(pk=card.pk).values_list("pk", flat=True))

    # CARD: MEMBERS doctors joined before the query day, some changed role or
    # primary flag; after it, a fifth of them left and as many others joined.
    card_rows = []
    membership_id = 0
    expected = {}
    doctors_needed = MEMBERS + MEMBERS // 5
    for doctor_id in range(1, MEMBERS + 1):
        membership_id += 1
        joined = when(rng, 0, QUERY_DAY - 50)
        values = [membership_id, "member", joined.date(), False, doctor_id, card.pk]
        card_rows.append(("+", joined, tuple(values)))
        if doctor_id % 3 == 0:
            values[3] = True
            card_rows.append(
                ("~", when(rng, QUERY_DAY - 49, QUERY_DAY - 1), tuple(values))
            )
        expected[doctor_id] = values[3]
        if doctor_id % 5 == 0:
            card_rows.append(("-", when(rng, QUERY_DAY + 1, 364), tuple(values)))
    for doctor_id in range(MEMBERS + 1, doctors_needed + 1):
        membership_id += 1
        joined = when(rng, QUERY_DAY + 1, 364)
        card_rows.append(
            (
                "+",
                joined,
                (membership_id, "member", joined.date(), False, doctor_id, card.pk),
            )
        )

    # Everyone else: doctors with one to three memberships elsewhere, each with
    # a few changes, until the history holds HISTORY_ROWS rows.
    doctor_rows = []
    other_rows = []
    doctor_id = 0
    while len(card_rows) + len(doctor_rows) + len(other_rows) < HISTORY_ROWS:
        doctor_id += 1
        # CARD's doctors exist before they join it; the others any time.
        created = when(rng, 0, 0 if doctor_id <= doctors_needed else 300)
        doctor = (
            doctor_id,
            f"BENCH-{doctor_id:07d}",
            f"First{doctor_id % 997}",
            f"Last{doctor_id % 1009}",
            f"doctor{doctor_id}@bench.example",
            "",
            "cardiology",
            True,
            created,
        )
        doctor_rows.append(("+", created, doctor))
        doctor_rows.append(("~", when(rng, 301, 364), doctor))
        if doctor_id <= doctors_needed:
            continue
        for department_id in rng.sample(others, rng.randint(1, 3)):
            membership_id += 1
            values = (
                membership_id,
                "member",
                created.date(),
                False,
                doctor_id,
                department_id,
            )
            for history_type in ("+", "~", "~", "-")[: rng.randint(1, 4)]:
                other_rows.append((history_type, when(rng, 0, 364), values))
    assert doctor_id >= doctors_needed, "BENCH_HISTORY_ROWS too small for BENCH_MEMBERS"

    doctor_columns = (
        "id",
        "license_number",
        "first_name",
        "last_name",
        "email",
        "phone",
        "specialty",
        "is_active",
        "created_at",
    )
    membership_columns = (
        "id",
        "role",
        "joined_on",
        "is_primary",
        "doctor_id",
        "department_id",
    )
    for model, columns, rows in [
        (Doctor, doctor_columns, doctor_rows),
        (Membership, membership_columns, card_rows + other_rows),
    ]:
        rows.sort(key=lambda row: row[1])
        history = model.history.model
        insert_rows(
            history,
            [
                *columns,
                "history_date",
                "history_type",
                "history_change_reason",
                "history_user_id",
            ],
            (
                (*values, moment, history_type, None, None)
                for history_type, moment, values in rows
            ),
        )
    total = len(card_rows) + len(doctor_rows) + len(other_rows)
    return card.pk, {"members": expected, "history_rows": total}


def main() -> None:
    django.setup()
    from django.db import connection

    from doctors.models import Department
    from doctors.timetravel.moments import department_members_on

    log(f"writing {HISTORY_ROWS:,} history rows ({MEMBERS:,} members in CARD) ...")
    started = time.perf_counter()
    card_id, truth = build_history()
    log(f"  written in {time.perf_counter() - started:.1f} s")
    if connection.vendor == "postgresql":
        # What autovacuum does after a load this size.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    card = Department.objects.get(pk=card_id)
    day = (START + datetime.timedelta(days=QUERY_DAY)).date()
    timings = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        members = department_members_on(card, day)
        timings.append(time.perf_counter() - started)
    answer = {m.doctor_id: m.is_primary for m in members}
    assert answer == truth["members"], "wrong answer"
    assert all(m.license_number == f"BENCH-{m.doctor_id:07d}" for m in members), (
        "wrong doctors"
    )
    median = statistics.median(timings)
    figures = {
        "benchmark": "members_on_date",
        "database": connection.vendor,
        "members": len(members),
        "history_rows": truth["history_rows"],
        "cold_s": round(timings[0], 3),
        "median_s": round(median, 3),
        "target_s": TARGET_SECONDS,
        "smoke": SMOKE,
        "meets_targets": None if SMOKE else median <= TARGET_SECONDS,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
