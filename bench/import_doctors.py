"""Benchmark: importing doctors from CSV and .xlsx, exporting them as .xlsx,
against the floors and django-import-export.

On one database, each on a clean slate with the same 50 departments:
  (a) our import (doctors.importing) of a generated CSV file of N rows (1-3
      departments each), in a fresh process: time and peak RSS of that process;
  re-import of the same, unchanged file (must create and update nothing);
  (b) the floor: bulk_create of the same doctors, then of their memberships;
  (c) django-import-export's default row-by-row ModelResource on a subset;
  (d) our import of the same N rows as an Excel workbook (.xlsx);
  (e) our export of the N doctors as .xlsx (doctors.exporting), in a fresh
      process, against (f) the floor: the same cells written by openpyxl's
      write-only mode from rows already in memory;
  readers: the .xlsx file read by tablib (what django-import-export's XLSX
  format does), by openpyxl's read-only mode and by ours
  (doctors.importing.readers.xlsx); an .ods file of BENCH_ODS_N rows read by tablib
  (odfpy) and by ours.
Targets: a/b <= 3.0, per-row c/a >= 10, reimport/b <= 1.5, d/a <= 2.0,
e/f <= 1.5, peak RSS <= 300 MB (imports and the export). On a shared machine the
pairs a/d and e/f are measured alternately BENCH_REPEATS times (default 2) and
the fastest run of each is compared.

N = 100,000 (BENCH_N), subset 10,000 (BENCH_IMPORT_EXPORT_N), .ods readers
20,000 (BENCH_ODS_N); BENCH_SMOKE=1 runs 300, 100 and 100 rows in seconds. The
last line printed is one JSON object.
"""

import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

import django

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
N = int(os.environ.get("BENCH_N", 300 if SMOKE else 100_000))
IMPORT_EXPORT_N = int(os.environ.get("BENCH_IMPORT_EXPORT_N", 100 if SMOKE else 10_000))
DEPARTMENTS = 50
ODS_N = int(os.environ.get("BENCH_ODS_N", 100 if SMOKE else 20_000))
# Side-by-side pairs (a/d, e/f) are measured this many times; the fastest counts.
REPEATS = int(os.environ.get("BENCH_REPEATS", 1 if SMOKE else 2))
TARGETS = {
    "a_over_b": 3.0,
    "c_over_a_per_row": 10.0,
    "reimport_over_b": 1.5,
    "d_over_a": 2.0,
    "e_over_f": 1.5,
}
PEAK_RSS_LIMIT_MB = 300


def header() -> list[str]:
    """The doctor columns, from their one declaration (DoctorResource)."""
    from doctors.resources import DOCTOR_COLUMNS

    return list(DOCTOR_COLUMNS)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def generate_rows(count: int, codes: list[str]) -> list[list[str]]:
    from doctors.models import Specialty

    rng = random.Random(4)
    specialties = [choice.label for choice in Specialty]
    rows = []
    for n in range(count):
        picks = rng.sample(codes, rng.randint(1, 3))
        rows.append(
            [
                f"BENCH-{n:07d}",
                f"First{n % 997}",
                f"Last{n % 1009}",
                f"doctor{n}@bench.example",
                f"555-{n % 10000:04d}",
                rng.choice(specialties),
                "|".join(picks),
                "true" if n % 20 else "false",
            ]
        )
    return rows


def write_csv(path: str, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header())
        writer.writerows(rows)


def typed(row: list[str]) -> list:
    """A generated row as an export renders it: is_active a boolean."""
    return [*row[:7], row[7] == "true"]


def write_xlsx_floor(path: str, rows: list[list]) -> None:
    """The floor of an .xlsx export: openpyxl's write-only mode, nothing else."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Doctors")
    sheet.append(header())
    for row in rows:
        sheet.append(row)
    workbook.save(path)


def clean_slate() -> None:
    """Remove doctors, memberships and everything written about them."""
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    from doctors.models import ActivityEvent, Doctor, ImportRun, Membership

    models = [
        Membership,
        Membership.history.model,
        Doctor,
        Doctor.history.model,
        ActivityEvent,
        ImportRun,
        DBTaskResult,
    ]
    with connection.cursor() as cursor:
        for model in models:
            table = connection.ops.quote_name(model._meta.db_table)
            if connection.vendor == "postgresql":
                cursor.execute(f"TRUNCATE {table} CASCADE")
            else:
                cursor.execute(f"DELETE FROM {table}")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def run_child(mode: str, *args: str) -> dict:
    """One measurement in a new process, so its peak RSS is its own."""
    output = subprocess.run(
        [sys.executable, __file__, f"--child-{mode}", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def run_our_import(path: str) -> dict:
    """(a), (d) and the re-import."""
    return run_child("import", path)


def child_export(path: str) -> None:
    """(e): every doctor, as the export command writes them, to an .xlsx file."""
    from doctors import exporting
    from doctors.models import Doctor

    started = time.perf_counter()
    with open(path, "wb") as stream:
        count = exporting.write(
            "xlsx",
            exporting.doctor_rows(Doctor.objects.order_by("license_number")),
            stream,
            model=Doctor,
        )
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": count, "peak_rss_mb": rss_mb()}))


def child_floor(path: str, count: str) -> None:
    """(f): the same cells, built in memory first (not timed), then written."""
    from doctors.models import Department

    codes = sorted(Department.objects.values_list("code", flat=True))
    rows = [typed(row) for row in generate_rows(int(count), codes)]
    started = time.perf_counter()
    write_xlsx_floor(path, rows)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mb": rss_mb()}))


def child_read(reader: str, path: str) -> None:
    """Read every row of a workbook: time and peak RSS of one reader."""
    from doctors.importing.readers.limits import ReaderLimits
    from doctors.importing.readers.table import TableRequest, read_table
    from doctors.resources import DOCTOR_COLUMNS

    started = time.perf_counter()
    if reader.startswith("tablib"):
        import tablib

        with open(path, "rb") as stream:
            file_format = "xlsx" if reader == "tablib-xlsx" else "ods"
            rows = len(tablib.Dataset().load(stream, format=file_format))
    elif reader == "openpyxl-xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()
        rows = -1
        for cells in sheet.iter_rows():
            # What our reader needs of each cell: value, type and number format.
            [(cell.value, cell.data_type, cell.number_format) for cell in cells]
            rows += 1
        workbook.close()
    else:
        request = TableRequest(columns=tuple(DOCTOR_COLUMNS), sheet_name="Doctors")
        with open(path, "rb") as stream:
            table = read_table(stream, request, ReaderLimits())
            rows = sum(1 for _ in table.rows())
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": rss_mb()}))


def rss_mb() -> float:
    return round(peak_rss_kb() / 1024, 1)


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
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "memberships": result.counts.get("memberships_added", 0),
                "peak_rss_mb": rss_mb(),
            }
        )
    )


def fastest(runs: list[dict]) -> dict:
    """The fastest run, with the highest peak RSS of all the runs."""
    best = min(runs, key=lambda run: run["seconds"])
    return {**best, "peak_rss_mb": max(run["peak_rss_mb"] for run in runs)}


def peak_rss_kb() -> int:
    """This process's peak resident set size, in KiB.

    Linux's VmHWM starts afresh with the program; ru_maxrss would carry over
    the peak of the parent the process was forked from.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def floor_bulk_create(rows: list[list[str]], department_ids: dict[str, int]) -> float:
    """(b): Doctor and Membership instances and bulk_create, nothing else."""
    from doctors.importing.values import SPECIALTY_LOOKUP
    from doctors.models import Doctor, Membership

    started = time.perf_counter()
    doctors = [
        Doctor(
            license_number=row[0],
            first_name=row[1],
            last_name=row[2],
            email=row[3],
            phone=row[4],
            specialty=SPECIALTY_LOOKUP[row[5].lower()],
            is_active=row[7] == "true",
        )
        for row in rows
    ]
    Doctor.objects.bulk_create(doctors, batch_size=2000)
    ids = dict(Doctor.objects.values_list("license_number", "pk"))
    memberships = [
        Membership(
            doctor_id=ids[row[0]],
            department_id=department_ids[code],
            is_primary=position == 0,
        )
        for row in rows
        for position, code in enumerate(row[6].split("|"))
    ]
    Membership.objects.bulk_create(memberships, batch_size=2000)
    return time.perf_counter() - started


def import_export_default(path: str) -> float:
    """(c): import-export's default ModelResource, row by row, signals and all."""
    import tablib
    from import_export import fields, resources, widgets

    from doctors.models import Department, Doctor

    class DoctorResource(resources.ModelResource):
        departments = fields.Field(
            attribute="departments",
            column_name="departments",
            widget=widgets.ManyToManyWidget(Department, field="code", separator="|"),
        )

        class Meta:
            model = Doctor
            import_id_fields = ["license_number"]
            fields = header()

    with open(path, encoding="utf-8") as stream:
        dataset = tablib.Dataset().load(stream.read(), format="csv")
    started = time.perf_counter()
    result = DoctorResource().import_data(dataset, dry_run=False, raise_errors=True)
    seconds = time.perf_counter() - started
    if result.has_errors() or result.has_validation_errors():
        raise SystemExit("django-import-export reported errors")
    return seconds


def main() -> None:
    django.setup()
    from django.db import connection

    from doctors.models import Department, Doctor, Membership

    clean_slate()
    Department.objects.all().delete()
    Department.objects.bulk_create(
        Department(code=f"DEP{n:02d}", name=f"Department {n:02d}")
        for n in range(DEPARTMENTS)
    )
    department_ids = dict(Department.objects.values_list("code", "pk"))
    rows = generate_rows(N, list(department_ids))
    memberships = sum(len(row[6].split("|")) for row in rows)

    with tempfile.TemporaryDirectory() as folder:
        full = os.path.join(folder, "doctors.csv")
        subset = os.path.join(folder, "doctors-subset.csv")
        write_csv(full, rows)
        write_csv(subset, rows[:IMPORT_EXPORT_N])

        log(f"(b) bulk_create of {N} doctors and {memberships} memberships ...")
        b = floor_bulk_create(rows, department_ids)
        assert Doctor.objects.count() == N
        assert Membership.objects.count() == memberships
        clean_slate()

        log(f"(a) our import of {N} rows ...")
        a = run_our_import(full)
        assert (a["created"], a["memberships"]) == (N, memberships), a
        csv_imports = [a]
        assert Doctor.objects.count() == N

        log("re-import of the unchanged file ...")
        again = run_our_import(full)
        assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, N)

        # The machine may be shared: each pair is measured side by side,
        # alternating, REPEATS times, and the fastest of each kept.
        log(f"(e) our .xlsx export of {N} doctors; (f) openpyxl write-only floor ...")
        exported = os.path.join(folder, "exported.xlsx")
        floor_path = os.path.join(folder, "doctors.xlsx")
        exports, floors = [], []
        for _ in range(REPEATS):
            exports.append(run_child("export", exported))
            floors.append(run_child("floor", floor_path, str(N)))
        assert all(run["rows"] == N for run in exports)
        e = fastest(exports)
        f = fastest(floors)
        clean_slate()

        log(f"(d) our import of the {N} rows as .xlsx, against (a) again ...")
        xlsx_imports = []
        for repeat in range(REPEATS):
            xlsx_imports.append(run_our_import(floor_path))
            assert (xlsx_imports[-1]["created"], xlsx_imports[-1]["memberships"]) == (
                N,
                memberships,
            )
            clean_slate()
            if repeat < REPEATS - 1:
                csv_imports.append(run_our_import(full))
                clean_slate()
        a = fastest(csv_imports)
        d = fastest(xlsx_imports)

        log("readers: tablib, openpyxl read-only and ours (.xlsx); tablib, ours (.ods)")
        readers = {
            name: run_child("read", name, floor_path)
            for name in ["tablib-xlsx", "openpyxl-xlsx", "ours-xlsx"]
        }
        ods_path = os.path.join(folder, "doctors.ods")
        with open(ods_path, "wb") as stream:
            from doctors import sheets

            sheets.write_ods(
                iter([header(), *(typed(row) for row in rows[:ODS_N])]),
                stream,
                sheet="Doctors",
                widths={},
            )
        readers.update(
            {
                name: run_child("read", name, ods_path)
                for name in ["tablib-ods", "ours-ods"]
            }
        )

        log(f"(c) django-import-export default, {IMPORT_EXPORT_N} rows ...")
        c = import_export_default(subset)
        assert Doctor.objects.count() == IMPORT_EXPORT_N
        clean_slate()

    a_per_row = a["seconds"] / N
    c_per_row = c / IMPORT_EXPORT_N
    figures = {
        "benchmark": "import_doctors",
        "database": connection.vendor,
        "rows": N,
        "memberships": memberships,
        "import_export_rows": IMPORT_EXPORT_N,
        "a_our_import_s": round(a["seconds"], 3),
        "b_bulk_create_s": round(b, 3),
        "c_import_export_default_s": round(c, 3),
        "reimport_s": round(again["seconds"], 3),
        "a_over_b": round(a["seconds"] / b, 2),
        "c_over_a_per_row": round(c_per_row / a_per_row, 1),
        "reimport_over_b": round(again["seconds"] / b, 2),
        "d_xlsx_import_s": round(d["seconds"], 3),
        "d_over_a": round(d["seconds"] / a["seconds"], 2),
        "e_xlsx_export_s": round(e["seconds"], 3),
        "f_openpyxl_write_only_s": round(f["seconds"], 3),
        "e_over_f": round(e["seconds"] / f["seconds"], 2),
        "peak_rss_mb": max(a["peak_rss_mb"], again["peak_rss_mb"]),
        "xlsx_import_peak_rss_mb": d["peak_rss_mb"],
        "xlsx_export_peak_rss_mb": e["peak_rss_mb"],
        "readers": {
            name: {
                "rows": figures["rows"],
                "seconds": round(figures["seconds"], 3),
                "peak_rss_mb": figures["peak_rss_mb"],
            }
            for name, figures in readers.items()
        },
        "smoke": SMOKE,
    }
    # The targets are for full size; at smoke size fixed costs dominate.
    figures["meets_targets"] = (
        None
        if SMOKE
        else (
            figures["a_over_b"] <= TARGETS["a_over_b"]
            and figures["c_over_a_per_row"] >= TARGETS["c_over_a_per_row"]
            and figures["reimport_over_b"] <= TARGETS["reimport_over_b"]
            and figures["d_over_a"] <= TARGETS["d_over_a"]
            and figures["e_over_f"] <= TARGETS["e_over_f"]
            and max(
                figures["peak_rss_mb"],
                figures["xlsx_import_peak_rss_mb"],
                figures["xlsx_export_peak_rss_mb"],
            )
            <= PEAK_RSS_LIMIT_MB
        )
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    children = {
        "--child-import": child_import,
        "--child-export": child_export,
        "--child-floor": child_floor,
        "--child-read": child_read,
    }
    if len(sys.argv) >= 3 and sys.argv[1] in children:
        django.setup()
        children[sys.argv[1]](*sys.argv[2:])
    else:
        main()
