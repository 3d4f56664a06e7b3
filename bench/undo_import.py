"""Benchmark: undoing (and redoing) a large doctors import.

On one database with 50 departments and N/2 doctors already imported:
  (a) an import of a generated file of N rows: N/2 existing doctors changed
      (phone, active flag, other departments, so memberships are added,
      removed and changed), N/2 new doctors with 1-3 departments each;
  (u) the undo of that run: every doctor, department and membership field is
      compared with the state before (a);
  (r) the undo of the undo (the redo): compared with the state after (a).
Each in a fresh process, so its time and peak RSS are its own.
Targets: u/a <= 1.5, peak RSS of the undo <= 300 MB.

N = 100,000 (BENCH_N); BENCH_SMOKE=1 runs 400 rows in seconds. The last line
printed is one JSON object.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import django

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from import_doctors import (  # noqa: E402 (the sibling benchmark's helpers)
    clean_slate,
    log,
    peak_rss_kb,
    write_csv,
)

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
N = int(os.environ.get("BENCH_N", 400 if SMOKE else 100_000))
DEPARTMENTS = 50
TARGET_UNDO_OVER_IMPORT = 1.5
PEAK_RSS_LIMIT_MB = 300


def doctor_row(n: int, rng: random.Random, codes: list[str], version: int) -> list:
    from doctors.models import Specialty

    specialties = [choice.label for choice in Specialty]
    picks = rng.sample(codes, rng.randint(1, 3))
    return [
        f"BENCH-{n:07d}",
        f"First{n % 997}",
        f"Last{n % 1009}",
        f"doctor{n}@bench.example",
        f"555-{(n + version) % 10000:04d}",
        specialties[n % len(specialties)],
        "|".join(picks),
        "true" if (n + version) % 20 else "false",
    ]


def digest() -> str:
    """A digest of every doctor, department and membership field (a doctor's
    "last change" time moves with every write and is left out)."""
    from doctors.models import Department, Doctor, Membership

    hasher = hashlib.sha256()
    for model, exclude in ((Doctor, "updated_at"), (Department, "updated_at")):
        fields = [
            f.attname for f in model._meta.concrete_fields if f.attname != exclude
        ]
        for values in model.objects.order_by("pk").values_list(*fields).iterator():
            hasher.update(repr(values).encode())
    fields = [f.attname for f in Membership._meta.concrete_fields]
    for values in Membership.objects.order_by("pk").values_list(*fields).iterator():
        hasher.update(repr(values).encode())
    return hasher.hexdigest()


def child(command: str, argument: str) -> dict:
    """Run `command` in a new process, so that its peak RSS is its own."""
    output = subprocess.run(
        [sys.executable, __file__, command, argument],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def child_import(path: str) -> None:
    from doctors.importing.runner import import_doctors

    started = time.perf_counter()
    with open(path, "rb") as stream:
        result = import_doctors(stream, file_name=os.path.basename(path))
    seconds = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"import failed: {[str(p) for p in result.problems[:5]]}")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "run": result.run.pk,
                "created": result.created,
                "updated": result.updated,
                **result.counts,
                "peak_rss_mb": round(peak_rss_kb() / 1024, 1),
            }
        )
    )


def child_undo(run_id: str) -> None:
    from doctors import undo
    from doctors.models import ImportRun

    run = ImportRun.objects.get(pk=int(run_id))
    started = time.perf_counter()
    result = undo.undo_import(run, source="command")
    seconds = time.perf_counter() - started
    if result.refused:
        raise SystemExit(result.summary())
    print(
        json.dumps(
            {
                "seconds": seconds,
                "records": result.total,
                "peak_rss_mb": round(peak_rss_kb() / 1024, 1),
            }
        )
    )


def main() -> None:
    django.setup()
    from django.db import connection

    from doctors.models import Department, Doctor

    clean_slate()
    Department.objects.all().delete()
    Department.objects.bulk_create(
        Department(code=f"DEP{n:02d}", name=f"Department {n:02d}")
        for n in range(DEPARTMENTS)
    )
    codes = sorted(Department.objects.values_list("code", flat=True))
    half = N // 2
    rng = random.Random(7)
    existing = [doctor_row(n, rng, codes, 0) for n in range(half)]
    # Half of the file changes the existing doctors, half adds new ones.
    damage = [doctor_row(n, rng, codes, 1) for n in range(N)]

    with tempfile.TemporaryDirectory() as folder:
        first = os.path.join(folder, "existing.csv")
        second = os.path.join(folder, "doctors.csv")
        write_csv(first, existing)
        write_csv(second, damage)
        log(f"setting up {half} existing doctors ...")
        child("--child-import", first)
        before = digest()

        log(f"(a) import of {N} rows ({half} changed, {N - half} new) ...")
        a = child("--child-import", second)
        assert (a["created"], a["updated"]) == (N - half, half), a
        after = digest()
        assert after != before

        log("(u) undo of that import ...")
        u = child("--child-undo", str(a["run"]))
        assert digest() == before, "the undo did not restore every field"
        assert Doctor.objects.count() == half

        log("(r) undo of the undo (redo) ...")
        r = child("--child-undo", str(a["run"]))
        assert digest() == after, "the redo did not restore every field"
        clean_slate()

    figures = {
        "benchmark": "undo_import",
        "database": connection.vendor,
        "rows": N,
        "memberships_added": a.get("memberships_added", 0),
        "memberships_changed": a.get("memberships_changed", 0),
        "memberships_removed": a.get("memberships_removed", 0),
        "records_restored": u["records"],
        "a_import_s": round(a["seconds"], 3),
        "u_undo_s": round(u["seconds"], 3),
        "r_redo_s": round(r["seconds"], 3),
        "undo_over_import": round(u["seconds"] / a["seconds"], 2),
        "redo_over_import": round(r["seconds"] / a["seconds"], 2),
        "import_peak_rss_mb": a["peak_rss_mb"],
        "undo_peak_rss_mb": max(u["peak_rss_mb"], r["peak_rss_mb"]),
        "every_field_restored": True,
        "smoke": SMOKE,
    }
    # The targets are for full size; at smoke size fixed costs dominate.
    figures["meets_targets"] = (
        None
        if SMOKE
        else (
            figures["undo_over_import"] <= TARGET_UNDO_OVER_IMPORT
            and figures["undo_peak_rss_mb"] <= PEAK_RSS_LIMIT_MB
        )
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child-import":
        django.setup()
        child_import(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--child-undo":
        django.setup()
        child_undo(sys.argv[2])
    else:
        main()
