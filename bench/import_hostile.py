"""Benchmark: hostile import files are refused quickly, in bounded memory and output.

Generates files of BENCH_HOSTILE_BYTES (20 MB; BENCH_SMOKE=1: 200 kB) in these
shapes: one huge cell, a cell of separators per row (CARD|||...), thousands of
columns, a huge header, many problems per row, CR-only line endings, NUL bytes,
unbalanced quotes, deep nesting of quotes, UTF-16, and a ZIP file; and every
hostile .xlsx, .ods and .json shape of tests/hostile_files.py at the size it was
reported at (a styles part of 20M cell styles, 25M shared strings, a row of 5M
cells without references, 2M valued cells, <text:s text:c="400000000"/>,
1E+200000000, 20,000 rows repeated 1,000 times, a DOCTYPE after a byte-order
mark, deep nesting, a 5,000-digit number, a shared-string index past the end or
-1, NaN, duplicate keys, ...; BENCH_SMOKE=1: a small size, with the readers'
limits lowered to match). Each goes
through
  (a) the command: `manage.py import_doctors FILE`;
  (b) the admin preview: the upload POST, then the worker's task when the file
      is large (doctors.runs.imports.execute_queued), then the run's page;
each in a fresh process, recording exit status (or refusal), time, peak RSS
(of that process and, separately, of the process that read the file, which is
its child) and output size (the command's stdout + stderr; the run page's HTML).
Targets: every file refused with a clear message within 30 s, peak RSS <= 300 MB
(of each process), output <= 100 kB. The last line printed is one JSON object.
"""

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests import hostile_files  # noqa: E402

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
SIZE = int(os.environ.get("BENCH_HOSTILE_BYTES", 200_000 if SMOKE else 20_000_000))
# The workbook and JSON shapes: full size, or small with the limits lowered
# (the environment of each child process: see settings.IMPORT_READER_LIMITS).
SHAPE_SCALE = 0.001 if SMOKE else 1.0
SMOKE_LIMITS = {
    "IMPORT_READER_MAX_STYLES": "1000",
    "IMPORT_READER_MAX_SHARED_STRINGS": "1000",
    "IMPORT_READER_MAX_COLUMNS": "100",
    "IMPORT_READER_MAX_ROWS": "5000",
    "IMPORT_READER_MAX_ZIP_MEMBERS": "10",
}
PEAK_RSS_LIMIT_MB = 300
SECONDS_LIMIT = 30
OUTPUT_LIMIT_BYTES = 100_000
HEADER = (
    "license_number,first_name,last_name,email,phone,specialty,departments,is_active"
)
USERNAME = "bench-importer"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# The files -------------------------------------------------------------------


def _lines(path: str, first: str, line, ending: str = "\r\n", encoding="utf-8"):
    """`first`, then line(n) for n = 0, 1, ... until the file has SIZE bytes."""
    with open(path, "w", encoding=encoding, newline="") as stream:
        stream.write(first + ending)
        written = len((first + ending).encode(encoding))
        n = 0
        while written < SIZE:
            text = line(n) + ending
            stream.write(text)
            written += len(text.encode(encoding))
            n += 1


def _repeat(path: str, head: str, unit: str, tail: str = "") -> None:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        stream.write(head)
        count = max((SIZE - len(head) - len(tail)) // len(unit), 1)
        block = unit * max(1, min(count, 1 << 16))
        while count > 0:
            piece = block if count * len(unit) >= len(block) else unit * count
            stream.write(piece)
            count -= len(piece) // len(unit)
        stream.write(tail)


def good_row(n: int) -> str:
    return f"H-{n:08d},Ann,Lee,h{n}@bench.example,,Cardiology,XRAY,true"


def make_files(folder: str) -> dict[str, str]:
    paths = {}

    def path(name: str) -> str:
        paths[name] = os.path.join(folder, f"{name}.csv")
        return paths[name]

    _repeat(path("huge_cell"), HEADER + "\r\nH-1,Ann,Lee,a@b.example,,x,", "CARD")
    _lines(
        path("separator_cells"),
        HEADER,
        lambda n: f"H-{n},Ann,Lee,a{n}@b.example,,Cardiology,CARD{'|' * 65_000},",
    )
    _lines(path("many_columns"), HEADER, lambda n: "x," * 5_000)
    _repeat(path("huge_header"), "", ",", "\r\n" + good_row(1) + "\r\n")
    _lines(
        path("many_problems_per_row"),
        HEADER,
        lambda n: f"bad id {n}!,,,not-an-email,1\x012,Nope,XRAY|YY:boss|,maybe",
    )
    _lines(path("cr_only"), HEADER, good_row, ending="\r")
    with open(path("nul_bytes"), "wb") as stream:
        stream.write((HEADER + "\r\n").encode())
        rng = random.Random(1)
        written = 0
        while written < SIZE:
            row = good_row(written).encode()
            cut = rng.randrange(len(row))
            chunk = row[:cut] + b"\x00" + row[cut:] + b"\r\n"
            stream.write(chunk)
            written += len(chunk)
    _repeat(path("unbalanced_quotes"), HEADER + '\r\nH-1,"Ann', "Lee\r\nmore text, ")
    _repeat(path("deep_quotes"), HEADER + '\r\nH-1,"', '""', '",Lee,a@b.example,,x,,')
    _lines(path("utf16"), HEADER, good_row, encoding="utf-16")
    zip_path = os.path.join(folder, "zip.csv")
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("doctors.csv", random.Random(2).randbytes(SIZE - 200))
    paths["zip"] = zip_path
    for shape in hostile_files.SHAPES:
        name, data = hostile_files.build(shape, SHAPE_SCALE)
        paths[shape] = os.path.join(folder, f"{shape}{os.path.splitext(name)[1]}")
        with open(paths[shape], "wb") as stream:
            stream.write(data)
    return paths


# The two paths, each in a child process --------------------------------------


class ReaderPeak:
    """The peak RSS of the file's reading process, as the sandbox reports it
    (to its debug log, which Django's logging set-up would filter out here)."""

    def __init__(self):
        from doctors.importing.readers import sandbox

        self.mb = 0.0
        report = sandbox._log_peak

        def record(peak_kb: int) -> None:
            self.mb = max(self.mb, round(peak_kb / 1024, 1))
            report(peak_kb)

        sandbox._log_peak = record


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM starts afresh with the program)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_command(path: str) -> dict:
    """manage.py import_doctors FILE, as staff would run it, in this process."""
    import contextlib
    import io

    from django.core.management import execute_from_command_line

    out, err = io.StringIO(), io.StringIO()
    status = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            execute_from_command_line(["manage.py", "import_doctors", path])
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else 1
    lines = err.getvalue().splitlines()
    return {
        "exit": status,
        "refused": status == 1 and bool(lines),
        "message": lines[0][-200:] if lines else "",
        "traceback": "Traceback" in err.getvalue(),
        "output_bytes": len(out.getvalue().encode()) + len(err.getvalue().encode()),
    }


def run_admin(path: str) -> dict:
    """The admin's upload, the worker's preview if queued, the run's page."""
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    from doctors.models import ImportRun
    from doctors.runs import imports as service

    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.get(username=USERNAME))
    with open(path, "rb") as stream:
        name = "hostile" + (os.path.splitext(path)[1] or ".csv")
        upload = SimpleUploadedFile(name, stream.read(), "text/csv")
    response = client.post(
        reverse("admin:doctors_doctor_import"), {"file": upload}, secure=True
    )
    del upload
    statuses = [response.status_code]
    run = ImportRun.objects.order_by("-pk").defer("content", "seen").first()
    if run is not None and run.status == ImportRun.Status.QUEUED:
        service.execute_queued(run.pk)
    page = b""
    if run is not None:
        response = client.get(
            reverse("admin:doctors_doctor_import_run", args=[run.pk]), secure=True
        )
        statuses.append(response.status_code)
        page = response.content
        run.refresh_from_db()
    problems = run.error_count if run else 0
    status = run.status if run else "not stored"
    return {
        "exit": 0,
        "http": statuses,
        "status": status,
        "refused": problems > 0
        and status not in ("succeeded", "running")
        and all(code in (200, 302) for code in statuses),
        "message": (run.errors[0][2] if run and run.errors else "")[:200],
        "output_bytes": len(page),
    }


def child(mode: str, paths: list[str], report: str) -> None:
    """Each of `paths` through the `mode` path; the figures to `report`."""
    django.setup()
    peak = ReaderPeak()
    figures = {}
    for path in paths:
        peak.mb = 0.0
        started = time.perf_counter()
        figures[path] = (run_command if mode == "command" else run_admin)(path)
        figures[path]["seconds"] = round(time.perf_counter() - started, 2)
        figures[path]["reader_rss_mb"] = peak.mb
        figures[path]["peak_rss_mb"] = peak_rss_mb()
    with open(report, "w") as stream:
        stream.write(json.dumps(figures))


def measure(mode: str, paths: list[str], folder: str) -> dict[str, dict]:
    """The figures of each path through `mode`: in one fresh process per file
    (full size: honest peak RSS and time), or in one process for all (smoke)."""
    report = os.path.join(folder, "report.json")
    environment = {**os.environ, **(SMOKE_LIMITS if SMOKE else {})}
    started = time.perf_counter()
    child_run = subprocess.run(
        [sys.executable, __file__, f"--child-{mode}", report, *paths],
        capture_output=True,
        env=environment,
        check=False,
    )
    seconds = time.perf_counter() - started
    if child_run.returncode != 0:
        raise SystemExit(
            f"{mode} path crashed on {paths}: {child_run.stderr[-2000:]!r}"
        )
    with open(report) as stream:
        results = json.load(stream)
    os.remove(report)
    for figures in results.values():
        if len(paths) == 1:  # the whole process: start, import, exit
            figures["seconds"] = round(seconds, 2)
        figures["meets_targets"] = bool(
            figures["refused"]
            and not figures.get("traceback")
            and figures["seconds"] <= SECONDS_LIMIT
            and figures["peak_rss_mb"] <= PEAK_RSS_LIMIT_MB
            and figures["reader_rss_mb"] <= PEAK_RSS_LIMIT_MB
            and figures["output_bytes"] <= OUTPUT_LIMIT_BYTES
        )
    return results


def main() -> None:
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection

    from doctors.models import Department, ImportRun
    from doctors.roles import CLINIC_STAFF

    Department.objects.get_or_create(code="CARD", defaults={"name": "Cardiology"})
    user, _ = get_user_model().objects.get_or_create(
        username=USERNAME, defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name=CLINIC_STAFF))

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        log(f"Writing the hostile files ({SIZE:,} bytes each) ...")
        files = make_files(folder)
        names = {path: name for name, path in files.items()}
        for mode in ("command", "admin"):
            if SMOKE:
                log(f"All {len(files)} files via the {mode} ...")
                batches = [list(files.values())]
            else:
                batches = [[path] for path in files.values()]
            for batch in batches:
                for path, figures in measure(mode, batch, folder).items():
                    log(f"{names[path]} via the {mode}: {json.dumps(figures)}")
                    results[f"{names[path]}/{mode}"] = figures
    ImportRun.objects.all().delete()

    summary = {
        "benchmark": "import_hostile",
        "database": connection.vendor,
        "file_bytes": SIZE,
        "cases": len(results),
        "max_peak_rss_mb": max(r["peak_rss_mb"] for r in results.values()),
        "max_reader_rss_mb": max(r["reader_rss_mb"] for r in results.values()),
        "max_output_bytes": max(r["output_bytes"] for r in results.values()),
        "max_seconds": max(r["seconds"] for r in results.values()),
        "all_refused": all(r["refused"] for r in results.values()),
        "failing": sorted(k for k, r in results.items() if not r["meets_targets"]),
        # shape/path: [exit status, seconds, peak RSS MB, reader's peak RSS MB,
        # output bytes]
        "table": {
            key: [
                r["exit"],
                r["seconds"],
                r["peak_rss_mb"],
                r["reader_rss_mb"],
                r["output_bytes"],
            ]
            for key, r in results.items()
        },
        "smoke": SMOKE,
    }
    summary["meets_targets"] = not summary["failing"]
    print(json.dumps(summary))
    if not summary["meets_targets"]:
        raise SystemExit(1)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] in ("--child-command", "--child-admin"):
        child(sys.argv[1].removeprefix("--child-"), sys.argv[3:], sys.argv[2])
    else:
        main()
