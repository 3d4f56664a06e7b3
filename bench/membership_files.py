"""Benchmark: importing and exporting membership periods, against the floor.

On one database, with N doctors (BENCH_N, default 25,000) in 50 departments,
each with four periods (a past period and a rejoin in one department, an
ended period in another, a current primary one in a third): P = 4N periods.
  (a) our import (doctors.importing.memberships) of a CSV file of the P
      periods, every one new, in a fresh process: time and peak RSS;
  (b) the floor: bulk_create of the same periods;
  (c) our export of every period as CSV (export_memberships), in a fresh
      process: time and peak RSS;
  (d) the import of that export, in a fresh process: nothing may change.
Targets: a/b <= 3.0 (the doctors import's), d/a <= 1.5, peak RSS <= 300 MB.
BENCH_SMOKE=1 runs 300 doctors. The last line printed is one JSON object.
"""

import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import django

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
N = int(os.environ.get("BENCH_N", 300 if SMOKE else 25_000))
DEPARTMENTS = 50
TARGETS = {"a_over_b": 3.0, "d_over_a": 1.5}
PEAK_RSS_LIMIT_MB = 300
D = datetime.date


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def periods_of(number: int) -> list[tuple]:
    """(department number, first day, last day or None, primary) of doctor
    `number`: four periods, in three departments, keeping every rule."""
    first, second, third = (
        number % DEPARTMENTS,
        (number + 1) % DEPARTMENTS,
        (number + 2) % DEPARTMENTS,
    )
    return [
        (first, D(2015, 1, 1), D(2017, 12, 31), False),
        (first, D(2019, 1, 1), None, False),
        (second, D(2016, 3, 1), D(2020, 6, 30), True),
        (third, D(2021, 1, 1), None, True),
    ]


def rows(licenses: list[str]) -> list[list[str]]:
    return [
        [
            license_number,
            f"DEP{department:02d}",
            "member",
            "true" if primary else "false",
            first.isoformat(),
            last.isoformat() if last else "",
        ]
        for number, license_number in enumerate(licenses)
        for department, first, last, primary in periods_of(number)
    ]


def child(command: list[str]) -> tuple[float, float, str]:
    """Run a manage.py command in a fresh process: seconds, peak RSS in MB of
    that process, and its output."""
    # Linux's VmHWM starts afresh with the program (ru_maxrss would carry
    # over this process's peak).
    script = (
        "import time, django; django.setup(); "
        "peak_kb = lambda: next(int(line.split()[1]) for line in "
        "open('/proc/self/status') if line.startswith('VmHWM:')); "
        "from django.core.management import call_command; "
        "started = time.perf_counter(); "
        f"call_command(*{command!r}); "
        "print('SECONDS', time.perf_counter() - started); "
        "print('RSS', peak_kb())"
    )
    output = subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    values = dict(
        line.split(" ", 1) for line in output.splitlines() if line[:3] in ("SEC", "RSS")
    )
    return float(values["SECONDS"]), int(values["RSS"]) / 1024, output


def main() -> None:
    django.setup()
    from doctors.bulk import delete_rows
    from doctors.importing.memberships.values import MEMBERSHIP_COLUMNS
    from doctors.models import Department, Doctor, ImportRun, Membership

    # scripts/bench.sh gives each benchmark a new database.
    Department.objects.bulk_create(
        Department(code=f"DEP{n:02d}", name=f"Department {n:02d}")
        for n in range(DEPARTMENTS)
    )
    Doctor.objects.bulk_create(
        Doctor(
            license_number=f"L{n:07d}",
            first_name="Bench",
            last_name=f"Doctor {n}",
            email=f"l{n:07d}@bench.test",
            specialty="cardiology",
        )
        for n in range(N)
    )
    licenses = [f"L{n:07d}" for n in range(N)]
    table = rows(licenses)
    total = len(table)
    department_ids = dict(Department.objects.values_list("code", "pk"))
    doctor_ids = dict(Doctor.objects.values_list("license_number", "pk"))

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "periods.csv")
        with open(path, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(MEMBERSHIP_COLUMNS)
            writer.writerows(table)

        log(f"(b) bulk_create of {total} periods ...")
        started = time.perf_counter()
        Membership.objects.bulk_create(
            (
                Membership(
                    doctor_id=doctor_ids[row[0]],
                    department_id=department_ids[row[1]],
                    role=row[2],
                    is_primary=row[3] == "true",
                    joined_on=D.fromisoformat(row[4]),
                    left_on=D.fromisoformat(row[5]) if row[5] else None,
                )
                for row in table
            ),
            batch_size=2000,
        )
        b = time.perf_counter() - started
        delete_rows(Membership, list(Membership.objects.values_list("pk", flat=True)))

        log(f"(a) import_memberships of {total} new periods ...")
        a, a_rss, _ = child(["import_memberships", path])
        assert Membership.objects.count() == total
        assert ImportRun.objects.latest("pk").created == total

        exported = os.path.join(folder, "export.csv")
        log("(c) export_memberships ...")
        c, c_rss, _ = child(["export_memberships", "--output", exported])

        log("(d) import of the export ...")
        history = Membership.history.count()
        d, d_rss, _ = child(["import_memberships", exported])
        run = ImportRun.objects.latest("pk")
        assert (run.created, run.updated, run.unchanged) == (0, 0, total)
        assert Membership.history.count() == history

    results = {
        "periods": total,
        "a_import_s": round(a, 2),
        "b_floor_s": round(b, 2),
        "c_export_s": round(c, 2),
        "d_reimport_s": round(d, 2),
        "a_over_b": round(a / b, 2),
        "d_over_a": round(d / a, 2),
        "peak_rss_mb": {
            "import": round(a_rss),
            "export": round(c_rss),
            "reimport": round(d_rss),
        },
    }
    failed = [
        name for name, limit in TARGETS.items() if not SMOKE and results[name] > limit
    ]
    if not SMOKE and max(a_rss, c_rss, d_rss) > PEAK_RSS_LIMIT_MB:
        failed.append("peak_rss_mb")
    results["failed"] = failed
    print(json.dumps(results))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
