"""Load benchmark: the production profile under 20 concurrent users, on loopback.

Seeds 100,000 doctors (seed_demo), starts the `make serve` processes (gunicorn
with 2 x CPUs + 1 workers and the task worker, DEBUG off, whitenoise) on the
database scripts/bench.sh prepared, logs in once, and points wrk at each page in
turn: 20 connections for 30 seconds each, after a warm-up.

Pages: the doctor changelist and the admin index always; `/healthz`, the
manager dashboard (`/admin/dashboard/`), the largest department's page and its
member management (the membership list scoped to it) whenever this build has
them. Every
response must be a 200: any other status, or a socket error, fails the run.

Prints p50/p95 latency and requests per second per page, the latency ratios of
each page to the cheapest one (`/healthz`, or the admin index without it), and
as its last line one JSON object. BENCH_SMOKE=1: 200 doctors, 5 s per page.
Needs wrk (Debian package `wrk`; scripts/bench.sh installs it when it can).
"""

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
DOCTORS = 200 if SMOKE else 100_000
DEPARTMENTS = 12 if SMOKE else 40
CONNECTIONS = 20
DURATION_S = 5 if SMOKE else 30
WARMUP_REQUESTS = 5
START_TIMEOUT_S = 60

# Runs inside wrk: counts every response that is not a 200 (wrk itself only
# counts statuses >= 400), and prints the figures as one JSON line at the end.
WRK_SCRIPT = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not_ok = 0 end
function response(status, headers, body)
  if status ~= 200 then not_ok = not_ok + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("not_ok") end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, ' ..
    '"p95_us": %d, "p99_us": %d, "not_200": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), bad,
    e.connect + e.read + e.write + e.timeout))
end
"""


def say(message: str) -> None:
    print(f"[load] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_workers() -> int:
    return min(2 * (os.cpu_count() or 1) + 1, 9)


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


class Site:
    """The logged-in admin session the load runs with."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar)
        )

    def status(self, path: str) -> int:
        try:
            with self.opener.open(self.base + path, timeout=60) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def log_in(self, username: str, password: str) -> None:
        with self.opener.open(self.base + "/admin/login/", timeout=30) as response:
            page = response.read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
        body = urllib.parse.urlencode(
            {
                "username": username,
                "password": password,
                "next": "/admin/",
                "csrfmiddlewaretoken": token,
            }
        ).encode()
        with self.opener.open(self.base + "/admin/login/", body, timeout=30) as r:
            if not r.url.endswith("/admin/"):
                sys.exit(f"could not log in as {username!r} (ended at {r.url})")

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


LARGEST_DEPARTMENT = (
    "from django.db.models import Count; from doctors.models import Department; "
    "print(Department.objects.annotate(n=Count('memberships'))"
    ".order_by('-n', 'pk').values_list('pk', flat=True).first())"
)


def targets(site: Site, department: str) -> dict[str, str]:
    """Name -> path of every page this build has, cheapest first."""
    found = {}
    with_optional = [
        ("healthz", "/healthz"),
        ("admin_index", "/admin/"),
        ("dashboard", "/admin/dashboard/"),
        ("department", f"/admin/doctors/department/{department}/change/"),
        ("members", f"/admin/doctors/membership/?department={department}"),
        ("changelist", "/admin/doctors/doctor/"),
    ]
    for name, path in with_optional:
        status = site.status(path)
        if status == 200:
            found[name] = path
        elif name in {"admin_index", "changelist"}:
            sys.exit(f"{path} answered {status}, not 200")
        else:
            say(f"{path} answered {status}: not in this build, skipped")
    return found


def run_wrk(site: Site, path: str, script: Path) -> dict:
    command = [
        "wrk",
        f"-t{min(2, CONNECTIONS)}",
        f"-c{CONNECTIONS}",
        f"-d{DURATION_S}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        "-H",
        f"Cookie: {site.cookie_header()}",
        site.base + path,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=DURATION_S + 120
    )
    line = next(
        (x for x in result.stdout.splitlines() if x.startswith("WRK_RESULT ")), None
    )
    if result.returncode != 0 or line is None:
        sys.exit(f"wrk failed on {path}:\n{result.stdout}{result.stderr}")
    raw = json.loads(line.removeprefix("WRK_RESULT "))
    if raw["requests"] == 0:
        sys.exit(f"no request to {path} completed in {DURATION_S} s")
    seconds = raw["duration_us"] / 1e6
    return {
        "path": path,
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p95_ms": round(raw["p95_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "errors": raw["not_200"] + raw["socket_errors"],
    }


def start_profile(env: dict, port: int, logs: Path) -> list[subprocess.Popen]:
    """gunicorn and the task worker, as `make serve` starts them."""
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-reload"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=(logs / "worker.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "clinic.wsgi",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(web_workers()),
            "--timeout", "60",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=(logs / "gunicorn.log").open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return [server, worker]
        except OSError:
            time.sleep(0.2)
    stop([server, worker])
    sys.exit(f"gunicorn did not start:\n{(logs / 'gunicorn.log').read_text()[-3000:]}")


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    if shutil.which("wrk") is None:
        message = "wrk is not installed (Debian: apt-get install wrk)"
        if SMOKE:
            say(f"SKIPPED: {message}")
            print(json.dumps({"bench": "load", "smoke": True, "skipped": message}))
            return
        sys.exit(message)

    password = secrets.token_urlsafe(16)
    env = dict(os.environ)
    env.update(
        DEBUG="false",
        SERVE_INSECURE_LOCAL="true",
        DATABASE_CONN_MAX_AGE="60",
        DEMO_PASSWORD=password,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    say(f"seeding {DOCTORS} doctors in {DEPARTMENTS} departments")
    started = time.perf_counter()
    say(manage(env, "seed_demo", "--doctors", str(DOCTORS), "--departments",
               str(DEPARTMENTS)).splitlines()[0])  # fmt: skip
    seed_s = time.perf_counter() - started
    # The last line: `shell` may first say which models it imported.
    department = manage(env, "shell", "-c", LARGEST_DEPARTMENT).split()[-1]

    load_before = round(os.getloadavg()[0], 2)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="clinic-load-") as tmp:
        processes = start_profile(env, port, Path(tmp))
        try:
            site = Site(f"http://127.0.0.1:{port}")
            site.log_in("admin", password)
            pages = targets(site, department)
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
                f.write(WRK_SCRIPT)
            script = Path(f.name)
            results = {}
            for name, path in pages.items():
                for _ in range(WARMUP_REQUESTS):
                    site.status(path)
                results[name] = run_wrk(site, path, script)
                r = results[name]
                say(
                    f"{name:12} {path:38} p50 {r['p50_ms']:8.2f} ms  p95 "
                    f"{r['p95_ms']:8.2f} ms  {r['rps']:8.1f} req/s  "
                    f"{r['requests']} requests, {r['errors']} errors"
                )
            script.unlink()
        finally:
            stop(processes)

    baseline = "healthz" if "healthz" in results else "admin_index"
    ratios = {}
    for name in ("dashboard", "department", "members", "changelist", "admin_index"):
        if name in results and name != baseline:
            ratios[f"{name}/{baseline}"] = {
                "p50": round(results[name]["p50_ms"] / results[baseline]["p50_ms"], 2),
                "p95": round(results[name]["p95_ms"] / results[baseline]["p95_ms"], 2),
            }
    for pair, ratio in ratios.items():
        say(f"latency ratio {pair}: p50 x{ratio['p50']}, p95 x{ratio['p95']}")
    errors = sum(r["errors"] for r in results.values())
    engine = env.get("DATABASE_URL", "sqlite").split(":", 1)[0] or "sqlite"
    print(
        json.dumps(
            {
                "bench": "load",
                "smoke": SMOKE,
                "database": "postgresql" if engine.startswith("postgres") else engine,
                "doctors": DOCTORS,
                "seed_s": round(seed_s, 1),
                "connections": CONNECTIONS,
                "duration_s_per_page": DURATION_S,
                "web_workers": web_workers(),
                # This machine may be shared: a 1-minute load average well above
                # its CPU count means the figures are pessimistic.
                "cpus": os.cpu_count(),
                "loadavg_1m_before": load_before,
                "loadavg_1m_after": round(os.getloadavg()[0], 2),
                "pages": results,
                "ratios_baseline": baseline,
                "ratios": ratios,
                "errors": errors,
            }
        )
    )
    if errors:
        sys.exit(f"{errors} request(s) failed: the profile must serve 0 errors")


if __name__ == "__main__":
    main()
