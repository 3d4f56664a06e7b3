"""Benchmark: what the history chain costs, and how fast it is checked and
erasure is done (doctors.ledger).

On one database with 50 departments:
  (a) our import of a generated CSV file of N rows (1-3 departments each), in
      a fresh process, with the chain off (HISTORY_CHAIN=false) and (c) with
      it on, alternately BENCH_REPEATS times on a clean slate; the fastest of
      each is compared;
  (v) verify_history over the whole chain once the history tables hold at
      least H rows (the last import's, then synthetic doctor and membership
      history rows written in change-sets of 20,000 rows, each sealed);
  (e) the erasure of a doctor with E history rows of their own (and a feed
      event per 10 of them), among the N imported doctors; then the chain is
      verified again (it must still pass).
Targets: c/a <= 1.10, v <= 60 s, e <= 5 s.

N = 100,000 (BENCH_N), H = 1,000,000 (BENCH_HISTORY_ROWS), E = 10,000
(BENCH_ERASE_ROWS); BENCH_SMOKE=1 runs 300, 3,000 and 200 in seconds. The last
line printed is one JSON object.
"""

import datetime
import json
import os
import random
import sys
import tempfile
import time

import django

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from import_doctors import (  # noqa: E402 (the sibling benchmark's helpers)
    clean_slate,
    generate_rows,
    log,
    run_our_import,
    write_csv,
)

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
N = int(os.environ.get("BENCH_N", 300 if SMOKE else 100_000))
HISTORY_ROWS = int(os.environ.get("BENCH_HISTORY_ROWS", 3_000 if SMOKE else 1_000_000))
ERASE_ROWS = int(os.environ.get("BENCH_ERASE_ROWS", 200 if SMOKE else 10_000))
# One shared core's speed varies by a fifth from one run to the next here:
# three alternating pairs, the fastest of each compared.
REPEATS = int(os.environ.get("BENCH_REPEATS", 1 if SMOKE else 3))
DEPARTMENTS = 50
BATCH = 20_000
TARGETS = {"chain_over_plain": 1.10, "verify_seconds": 60.0, "erase_seconds": 5.0}


def history_rows() -> int:
    from doctors.models import Department, Doctor, Membership

    return sum(model.history.count() for model in (Doctor, Department, Membership))


def import_side_by_side(path: str) -> tuple[list[float], list[float]]:
    """(a) and (c): REPEATS alternating runs of each, their times."""
    plain, chained = [], []
    for _repeat in range(REPEATS):
        for chain_on, times in ((False, plain), (True, chained)):
            clean_slate()
            os.environ["HISTORY_CHAIN"] = "true" if chain_on else "false"
            log(f"import of {N} rows, chain {'on' if chain_on else 'off'} ...")
            result = run_our_import(path)
            assert result["created"] == N, result
            times.append(result["seconds"])
    os.environ["HISTORY_CHAIN"] = "true"
    return plain, chained


def synthetic_history(target: int, erased_id: int) -> None:
    """Doctor and membership history rows, BATCH per change-set, until the
    history tables hold `target` rows; the first change-sets give the doctor
    `erased_id` ERASE_ROWS rows and a feed event per ten of them."""
    from doctors.context import acting_as, current_change_set
    from doctors.models import ActivityEvent, Doctor, Membership

    doctor_ids = list(Doctor.objects.values_list("pk", flat=True))
    memberships = list(
        Membership.objects.values_list("pk", "doctor_id", "department_id")[:50_000]
    )
    HistoricalDoctor = Doctor.history.model
    HistoricalMembership = Membership.history.model
    rng = random.Random(21)
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    own_left = ERASE_ROWS
    written = history_rows()
    while written < target:
        with acting_as(description="Synthetic history (benchmark)"):
            change_set = current_change_set()
            doctors, members, events = [], [], []
            for n in range(min(BATCH, target - written)):
                when += datetime.timedelta(seconds=1)
                if own_left > 0 or n % 2 == 0:
                    own = own_left > 0
                    doctor_id = erased_id if own else rng.choice(doctor_ids)
                    own_left -= own
                    doctors.append(
                        HistoricalDoctor(
                            id=doctor_id,
                            license_number=f"BENCH-{doctor_id:07d}",
                            first_name=f"First{n % 997}",
                            last_name=f"Last{n % 1009}",
                            email=f"doctor{doctor_id}@bench.example",
                            phone=f"555-{n % 10000:04d}",
                            specialty="cardiology",
                            is_active=bool(n % 7),
                            created_at=when,
                            history_date=when,
                            history_type="~",
                            change_set=change_set,
                        )
                    )
                    if own and n % 10 == 0:
                        events.append(
                            ActivityEvent(
                                occurred_at=when,
                                source="system",
                                verb="updated",
                                target_type="doctor",
                                target_id=doctor_id,
                                target_text=f"Dr First{n % 997} Last{n % 1009}",
                                changes={"phone": ["555-0000", f"555-{n:04d}"]},
                                change_set=change_set,
                            )
                        )
                else:
                    membership_id, doctor_id, department_id = rng.choice(memberships)
                    members.append(
                        HistoricalMembership(
                            id=membership_id,
                            doctor_id=doctor_id,
                            department_id=department_id,
                            role="member",
                            joined_on=when.date(),
                            is_primary=False,
                            history_date=when,
                            history_type="~",
                            change_set=change_set,
                        )
                    )
            HistoricalDoctor.objects.bulk_create(doctors, batch_size=2000)
            HistoricalMembership.objects.bulk_create(members, batch_size=2000)
            ActivityEvent.objects.bulk_create(events, batch_size=2000)
        written += len(doctors) + len(members)
        log(f"  {written:,} history rows")


def restart_chain() -> None:
    """The clean slates deleted the earlier runs' rows from under their links:
    start the chain again from the rows that remain (the last import's), as
    after an upgrade (manage.py seal_history)."""
    from django.core.management import call_command
    from django.db.models import Exists, OuterRef

    from doctors.ledger import guard
    from doctors.models import (
        ActivityEvent,
        ChainHead,
        ChainLink,
        ChangeSet,
        Department,
        Doctor,
        ErasedCommitment,
        Membership,
        PersonalDataKey,
    )

    with guard.sanctioned():
        ChainLink.objects.all().delete()
        ChainHead.objects.update(position=0, hash="", sealed_at=None)
        PersonalDataKey.objects.all().delete()
        ErasedCommitment.objects.all().delete()
        used = [ActivityEvent.objects.filter(change_set=OuterRef("pk"))] + [
            model.history.filter(change_set=OuterRef("pk"))
            for model in (Doctor, Department, Membership)
        ]
        unused = ChangeSet.objects.all()
        for rows in used:
            unused = unused.exclude(Exists(rows))
        unused.filter(undoes__isnull=True, undone_by__isnull=True).delete()
    with open(os.devnull, "w") as quiet:
        call_command("seal_history", stdout=quiet)


def main() -> None:
    django.setup()
    from django.conf import settings

    from doctors.ledger import erasure
    from doctors.ledger.verify import verify
    from doctors.models import Department, Doctor

    clean_slate()
    Department.objects.all().delete()
    Department.objects.bulk_create(
        Department(code=f"DEP{n:02d}", name=f"Department {n:02d}")
        for n in range(DEPARTMENTS)
    )
    codes = list(Department.objects.values_list("code", flat=True))
    rows = generate_rows(N, codes)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "doctors.csv")
        write_csv(path, rows)
        plain_runs, chained_runs = import_side_by_side(path)
        plain, chained = min(plain_runs), min(chained_runs)
        settings.ERASURE_REPLAY_FILE = os.path.join(folder, "erasures.jsonl")
        restart_chain()

        erased = Doctor.objects.order_by("pk").first()
        log(f"synthetic history up to {HISTORY_ROWS:,} rows ...")
        synthetic_history(HISTORY_ROWS, erased.pk)
        total = history_rows()

        log("verify_history ...")
        started = time.perf_counter()
        report = verify()
        verify_seconds = time.perf_counter() - started
        # Earlier import runs' change-sets lost their rows to the clean slate;
        # only problems about other links would be real.
        real = [
            p for p in report.problems if "deleted (it was written" not in p.message
        ]
        own_rows = Doctor.history.filter(id=erased.pk).count()
        log(f"erasure of a doctor with {own_rows:,} history rows ...")
        started = time.perf_counter()
        erasure.erase_doctor(erased, reason="Benchmark")
        erase_seconds = time.perf_counter() - started
        after = verify()
        real_after = [str(problem) for problem in after.problems]

    result = {
        "database": django.db.connection.vendor,
        "import_rows": N,
        "import_without_chain_seconds": round(plain, 2),
        "import_with_chain_seconds": round(chained, 2),
        "chain_over_plain": round(chained / plain, 3),
        "import_runs_seconds": {
            "without_chain": [round(t, 2) for t in plain_runs],
            "with_chain": [round(t, 2) for t in chained_runs],
        },
        "verify_rows": report.rows,
        "history_rows": total,
        "verify_links": report.links,
        "verify_seconds": round(verify_seconds, 2),
        "verify_problems": len(real),
        "erase_history_rows": own_rows,
        "erase_seconds": round(erase_seconds, 3),
        "verify_problems_after_erasure": len(real_after),
        "targets": TARGETS,
    }
    result["ok"] = (
        result["chain_over_plain"] <= TARGETS["chain_over_plain"]
        and verify_seconds <= TARGETS["verify_seconds"]
        and erase_seconds <= TARGETS["erase_seconds"]
        and not real
        and not real_after
    )
    print(json.dumps(result))
    if not result["ok"] and not SMOKE:
        sys.exit(1)


if __name__ == "__main__":
    main()
