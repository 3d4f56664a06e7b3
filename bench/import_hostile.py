"""Benchmark: hostile import files are refused quickly, in bounded memory and output.

Generates files of BENCH_HOSTILE_BYTES (20 MB; BENCH_SMOKE=1: 200 kB) in these
shapes: one huge cell, a cell of separators per row (CARD|||...), thousands of
columns, a huge header, many problems per row, CR-only line endings, NUL bytes,
unbalanced quotes, deep nesting of quotes, UTF-16, and a ZIP file. Each goes
through
  (a) the command: `manage.py import_doctors FILE`;
  (b) the admin preview: the upload POST, then the worker's task when the file
      is large (doctors.runs.imports.execute_queued), then the run's page;
each in a fresh process, recording exit status (or refusal), time, peak RSS
and output size (the command's stdout + stderr; the run page's HTML).
Targets: every file refused with a clear message, peak RSS <= 300 MB,
output <= 100 kB. The last line printed is one JSON object.
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

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
SIZE = int(os.environ.get("BENCH_HOSTILE_BYTES", 200_000 if SMOKE else 20_000_000))
PEAK_RSS_LIMIT_MB = 300
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
    return paths


# The two paths, each in a child process --------------------------------------


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


def child_command(path: str, report: str) -> None:
    """manage.py import_doctors FILE, as staff would run it; peak RSS to `report`."""
    import atexit

    from django.core.management import execute_from_command_line

    atexit.register(
        lambda: open(report, "w").write(json.dumps({"peak_rss_mb": peak_rss_mb()}))
    )
    execute_from_command_line(["manage.py", "import_doctors", path])


def child_admin(path: str, report: str) -> None:
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
        upload = SimpleUploadedFile("hostile.csv", stream.read(), "text/csv")
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
    figures = {
        "http": statuses,
        "status": run.status if run else "not stored",
        "problems": run.error_count if run else 0,
        "first_problem": (run.errors[0][2] if run and run.errors else ""),
        "output_bytes": len(page),
        "peak_rss_mb": peak_rss_mb(),
    }
    with open(report, "w") as stream:
        stream.write(json.dumps(figures))


def measure(mode: str, path: str, folder: str) -> dict:
    report = os.path.join(folder, "report.json")
    out_path, err_path = (os.path.join(folder, name) for name in ("out", "err"))
    started = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        status = subprocess.run(
            [sys.executable, __file__, f"--child-{mode}", path, report],
            stdout=out,
            stderr=err,
            check=False,
        ).returncode
    seconds = time.perf_counter() - started
    with open(report) as stream:
        figures = json.load(stream)
    os.remove(report)
    with open(err_path, "rb") as stream:
        err_text = stream.read()
    output = os.path.getsize(out_path) + len(err_text)
    if mode == "command":
        lines = err_text.decode(errors="replace").splitlines()
        figures.update(
            exit=status,
            refused=status == 1 and bool(lines),
            message=lines[0][-200:] if lines else "",
            output_bytes=output,
        )
    else:
        if status != 0:
            raise SystemExit(f"admin path crashed on {path}: {err_text[-2000:]!r}")
        figures.update(
            exit=status,
            refused=figures["problems"] > 0 and figures["status"] != "succeeded",
            message=figures.pop("first_problem")[:200],
        )
    figures["seconds"] = round(seconds, 2)
    figures["meets_targets"] = bool(
        figures["refused"]
        and figures["peak_rss_mb"] <= PEAK_RSS_LIMIT_MB
        and figures["output_bytes"] <= OUTPUT_LIMIT_BYTES
    )
    return figures


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
        for name, path in files.items():
            size = os.path.getsize(path)
            for mode in ("command", "admin"):
                log(f"{name} ({size:,} bytes) via the {mode} ...")
                figures = measure(mode, path, folder)
                log(f"  {json.dumps(figures)}")
                results[f"{name}/{mode}"] = figures
            os.remove(path)
    ImportRun.objects.all().delete()

    summary = {
        "benchmark": "import_hostile",
        "database": connection.vendor,
        "file_bytes": SIZE,
        "cases": len(results),
        "max_peak_rss_mb": max(r["peak_rss_mb"] for r in results.values()),
        "max_output_bytes": max(r["output_bytes"] for r in results.values()),
        "max_seconds": max(r["seconds"] for r in results.values()),
        "all_refused": all(r["refused"] for r in results.values()),
        "failing": sorted(k for k, r in results.items() if not r["meets_targets"]),
        "table": {
            key: [r["exit"], r["seconds"], r["peak_rss_mb"], r["output_bytes"]]
            for key, r in results.items()
        },
        "smoke": SMOKE,
    }
    summary["meets_targets"] = not summary["failing"]
    print(json.dumps(summary))
    if not summary["meets_targets"]:
        raise SystemExit(1)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("--child-command", "--child-admin"):
        if sys.argv[1] == "--child-admin":
            django.setup()
            child_admin(sys.argv[2], sys.argv[3])
        else:
            child_command(sys.argv[2], sys.argv[3])
    else:
        main()
