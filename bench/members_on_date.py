"""Benchmark: a department's members on a date, on both time axes.

Builds DOCTORS doctors and their periods, CARD holding MEMBERS current members
(and past leavers, rejoins, a head handover, a few future joins), and
HISTORY_ROWS history rows in all: every period recorded when it happened,
some corrected later (a first day typed wrong, then fixed), and the churn of
49 other departments around it. Then asks, through
doctors.timetravel.moments.department_members_on (the query behind the
department's page, the member list's date selector and `manage.py members`):

- valid time: who is in CARD today, and who was in CARD on a past day;
- as recorded: who was in CARD on that past day as the records stood at an
  instant before the corrections were made.

Each answer is checked against the answer computed from the generated data.
Targets: valid time <= 0.15 s, as recorded <= 1.0 s (median of REPEAT runs;
the first, cold run is reported too).

DOCTORS = 100,000 (BENCH_DOCTORS), MEMBERS = 15,000 (BENCH_MEMBERS),
HISTORY_ROWS = 1,000,000 (BENCH_HISTORY_ROWS); BENCH_SMOKE=1 runs 1,000
doctors, 300 members and 10,000 history rows. The last line printed is one
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
DOCTORS = int(os.environ.get("BENCH_DOCTORS", 1_000 if SMOKE else 100_000))
MEMBERS = int(os.environ.get("BENCH_MEMBERS", 300 if SMOKE else 15_000))
HISTORY_ROWS = int(os.environ.get("BENCH_HISTORY_ROWS", 10_000 if SMOKE else 1_000_000))
DEPARTMENTS = 50
REPEAT = 5
TARGETS = {"valid_time": 0.15, "as_recorded": 1.0}
DAY = datetime.timedelta(days=1)
# The data's calendar: periods start over the last YEARS years; the past day
# asked about is PAST_DAYS ago.
YEARS = 6
PAST_DAYS = 400


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Data:
    """The rows to write and the facts to check the answers against."""

    def __init__(self, today: datetime.date, now: datetime.datetime):
        self.today = today
        self.now = now
        self.first_day = today - datetime.timedelta(days=365 * YEARS)
        self.doctors: list[tuple] = []
        self.doctor_history: list[tuple] = []
        # Live periods: (id, role, joined_on, left_on, is_primary, doctor, dept).
        self.periods: list[tuple] = []
        # (history_type, recorded at, period values)
        self.history: list[tuple] = []

    def recorded(self, day: datetime.date, rng: random.Random) -> datetime.datetime:
        """An instant during `day` (or now, for a day still to come)."""
        moment = datetime.datetime.combine(
            day, datetime.time(8), tzinfo=datetime.UTC
        ) + datetime.timedelta(seconds=rng.randint(0, 36_000))
        return min(moment, self.now - datetime.timedelta(seconds=1))

    def add_period(self, values: tuple, rng: random.Random, *, typo_days=0) -> None:
        """A live period and its history: recorded on its first day (with a
        first day `typo_days` late, corrected a month later when there is a
        typo), and its end recorded on its last day."""
        pk, role, joined, left, primary, doctor, department = values
        self.periods.append(values)
        first_known = (pk, role, joined + datetime.timedelta(days=typo_days), None)
        first_known += (primary, doctor, department)
        self.history.append(("+", self.recorded(joined, rng), first_known))
        if typo_days:
            fixed = (pk, role, joined, None, primary, doctor, department)
            self.history.append(
                ("~", self.recorded(joined + datetime.timedelta(days=30), rng), fixed)
            )
        if left is not None:
            self.history.append(("~", self.recorded(left, rng), values))


def build(today: datetime.date, now: datetime.datetime) -> tuple[Data, int]:
    """The data in memory; CARD is department 1."""
    rng = random.Random(13)
    data = Data(today, now)
    span = (today - data.first_day).days
    for pk in range(1, DOCTORS + 1):
        created = datetime.datetime.combine(
            data.first_day, datetime.time(7), tzinfo=datetime.UTC
        )
        doctor = (
            pk,
            f"BENCH-{pk:07d}",
            f"First{pk % 997}",
            f"Last{pk % 1009}",
            f"doctor{pk}@bench.example",
            "",
            "cardiology",
            True,
            created,
        )
        data.doctors.append(doctor)
        data.doctor_history.append(("+", created, doctor))

    next_id = iter(range(1, 10**9)).__next__
    card = 1
    # CARD today: MEMBERS doctors, doctor 1 head since 3 years ago (doctor 2
    # was head before him), every third of them primary here.
    for doctor in range(1, MEMBERS + 1):
        joined = data.first_day + datetime.timedelta(days=rng.randint(0, span - 30))
        role = "member"
        if doctor == 1:
            handover = today - datetime.timedelta(days=365 * 3)
            joined = min(joined, handover - datetime.timedelta(days=100))
            data.add_period(
                (next_id(), "member", joined, handover - DAY, False, 1, card), rng
            )
            joined, role = handover, "head"
        if doctor == 2:
            handover = today - datetime.timedelta(days=365 * 3)
            joined = data.first_day
            data.add_period(
                (next_id(), "head", joined, handover - DAY, False, 2, card), rng
            )
            joined = handover
        if doctor % 7 == 0 and joined > data.first_day + datetime.timedelta(days=200):
            # A rejoin: an earlier period that ended before this one.
            data.add_period(
                (
                    next_id(),
                    "member",
                    data.first_day,
                    joined - datetime.timedelta(days=100),
                    False,
                    doctor,
                    card,
                ),
                rng,
            )
        data.add_period(
            (next_id(), role, joined, None, doctor % 3 == 0, doctor, card),
            rng,
            typo_days=20 if doctor % 4 == 0 else 0,
        )
    # Leavers (a fifth as many) and future joins (one in a hundred).
    doctor = MEMBERS
    for _ in range(MEMBERS // 5):
        doctor += 1
        joined = data.first_day + datetime.timedelta(days=rng.randint(0, span - 60))
        left = joined + datetime.timedelta(
            days=rng.randint(0, (today - joined).days - 1)
        )
        data.add_period((next_id(), "member", joined, left, False, doctor, card), rng)
    for _ in range(MEMBERS // 100):
        doctor += 1
        joined = today + datetime.timedelta(days=rng.randint(1, 90))
        data.add_period((next_id(), "member", joined, None, False, doctor, card), rng)
    card_doctors = doctor
    assert card_doctors <= DOCTORS, "BENCH_DOCTORS too small for BENCH_MEMBERS"

    # Everyone else: one to three periods in other departments.
    other_periods = []
    for doctor in range(card_doctors + 1, DOCTORS + 1):
        for department in rng.sample(range(2, DEPARTMENTS + 1), rng.randint(1, 3)):
            joined = data.first_day + datetime.timedelta(days=rng.randint(0, span))
            values = (next_id(), "member", joined, None, False, doctor, department)
            data.add_period(values, rng)
            other_periods.append(values)
    # Doctors' own changes, then the other departments' corrections (saved
    # again with the same values), until the history holds HISTORY_ROWS rows.
    for doctor in data.doctors[: DOCTORS // 2]:
        moment = data.recorded(
            data.first_day + datetime.timedelta(days=rng.randint(1, span)), rng
        )
        data.doctor_history.append(("~", moment, doctor))
    while len(data.history) + len(data.doctor_history) < HISTORY_ROWS and other_periods:
        values = rng.choice(other_periods)
        day = values[2] + datetime.timedelta(
            days=rng.randint(0, max(0, (today - values[2]).days))
        )
        data.history.append(("~", data.recorded(min(day, today), rng), values))
    return data, card


def write(data: Data) -> None:
    from doctors.bulk import insert_rows
    from doctors.models import Department, Doctor, Membership

    Department.objects.bulk_create(
        Department(
            pk=n,
            code="CARD" if n == 1 else f"DEP{n:02d}",
            name="Cardiology" if n == 1 else f"Department {n:02d}",
        )
        for n in range(1, DEPARTMENTS + 1)
    )
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
    period_columns = (
        "id",
        "role",
        "joined_on",
        "left_on",
        "is_primary",
        "doctor_id",
        "department_id",
    )
    insert_rows(
        Doctor, (*doctor_columns, "updated_at"), (d + (d[-1],) for d in data.doctors)
    )
    insert_rows(Membership, period_columns, data.periods)
    history_columns = (
        "history_date",
        "history_type",
        "history_change_reason",
        "history_user_id",
    )
    for model, columns, rows in [
        (Doctor, doctor_columns, data.doctor_history),
        (Membership, period_columns, data.history),
    ]:
        rows.sort(key=lambda row: row[1])
        insert_rows(
            model.history.model,
            (*columns, *history_columns),
            ((*values, moment, kind, None, None) for kind, moment, values in rows),
        )


def valid_answer(data: Data, card: int, day: datetime.date) -> dict:
    return {
        doctor: (role, primary, joined, left)
        for _, role, joined, left, primary, doctor, department in data.periods
        if department == card and joined <= day and (left is None or day <= left)
    }


def recorded_answer(data: Data, card: int, day: datetime.date, moment) -> dict:
    newest = {}
    for kind, when, values in sorted(data.history, key=lambda row: row[1]):
        if when <= moment and values[6] == card:
            newest[values[0]] = (kind, values)
    return {
        doctor: (role, primary, joined, left)
        for kind, (_, role, joined, left, primary, doctor, _) in newest.values()
        if kind != "-" and joined <= day and (left is None or day <= left)
    }


def measure(ask, expected: dict) -> dict:
    timings = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        members = ask()
        timings.append(time.perf_counter() - started)
    answer = {
        m.doctor_id: (m.role, m.is_primary, m.joined_on, m.left_on) for m in members
    }
    assert answer == expected, "wrong answer"
    assert all(m.license_number == f"BENCH-{m.doctor_id:07d}" for m in members), (
        "wrong doctors"
    )
    return {
        "members": len(members),
        "cold_s": round(timings[0], 3),
        "median_s": round(statistics.median(timings), 3),
    }


def main() -> None:
    django.setup()
    from django.db import connection
    from django.utils import timezone

    from doctors.models import Department
    from doctors.timetravel import moments
    from doctors.timetravel.moments import department_members_on

    today = timezone.localdate()
    now = timezone.now()
    log(f"building {DOCTORS:,} doctors, {HISTORY_ROWS:,} history rows ...")
    started = time.perf_counter()
    data, card_id = build(today, now)
    write(data)
    log(f"  written in {time.perf_counter() - started:.1f} s")
    if connection.vendor == "postgresql":
        # What autovacuum does after a load this size.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    card = Department.objects.get(pk=card_id)
    past_day = today - datetime.timedelta(days=PAST_DAYS)
    # Ten days later: corrections of the month before not yet recorded.
    before = moments.end_of_day(past_day + datetime.timedelta(days=10))
    answers = {
        "valid_time_today": measure(
            lambda: department_members_on(card, today),
            valid_answer(data, card_id, today),
        ),
        "valid_time_past": measure(
            lambda: department_members_on(card, past_day),
            valid_answer(data, card_id, past_day),
        ),
        "as_recorded": measure(
            lambda: department_members_on(card, past_day, as_recorded_on=before),
            recorded_answer(data, card_id, past_day, before),
        ),
    }
    figures = {
        "benchmark": "members_on_date",
        "database": connection.vendor,
        "doctors": DOCTORS,
        "periods": len(data.periods),
        "history_rows": len(data.history) + len(data.doctor_history),
        **answers,
        "targets_s": TARGETS,
        "smoke": SMOKE,
        "meets_targets": None
        if SMOKE
        else (
            answers["valid_time_today"]["median_s"] <= TARGETS["valid_time"]
            and answers["valid_time_past"]["median_s"] <= TARGETS["valid_time"]
            and answers["as_recorded"]["median_s"] <= TARGETS["as_recorded"]
        ),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
