#!/usr/bin/env bash
# `make test`: everything a change must pass, in order, stopping at the first failure.
#
#   venv -> ruff check -> ruff format --check -> Redis/PostgreSQL/Chromium ready ->
#   makemigrations --check -> pytest (whole suite) -> smoke run of every bench/*.py
#
# Environment: DATABASE_URL (unset = SQLite; a postgres:// URL is created if
# missing), REDIS_URL (default redis://127.0.0.1:6379/13, as clinic.test_settings),
# PYTEST_ARGS (extra pytest arguments, e.g. PYTEST_ARGS="-k dashboard -x"),
# CHROMIUM_PATH (the browser for tests/browser/, default /usr/bin/chromium; when
# it is missing, Debian's chromium package is installed if running as root).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap_cleanup

export PYTHONUNBUFFERED=1

step() { printf '\n---- %s ----\n' "$*"; }

step "Virtualenv"
ensure_venv
ensure_var

step "ruff check"
"$VPY" -m ruff check .

step "ruff format --check"
"$VPY" -m ruff format --check .

step "Services"
# Redis: the tests use clinic.test_settings' default (db 13 on the standard port)
# unless REDIS_URL says otherwise. If it is not there, start a project-local one.
test_redis="${REDIS_URL:-redis://127.0.0.1:6379/13}"
if [ "$test_redis" = "locmem" ]; then
    warn "REDIS_URL=locmem: tests run with the in-process cache"
elif redis_answers "$test_redis"; then
    say "Redis at $(redact_url "$test_redis") answers"
elif start_local_redis; then
    export REDIS_URL="redis://127.0.0.1:$LOCAL_REDIS_PORT/13"
    say "Redis at $(redact_url "$test_redis") did not answer; tests use $REDIS_URL"
elif [ -n "${CI:-}" ]; then
    die "no Redis at $(redact_url "$test_redis") and no redis-server to start; CI needs one"
else
    shout "NO REDIS: $(redact_url "$test_redis") did not answer and redis-server is not installed." \
        "Running the tests with REDIS_URL=locmem; tests of real Redis behaviour may fail."
    export REDIS_URL=locmem
fi

if [ -n "${DATABASE_URL:-}" ]; then
    ensure_database
    say "Database: $(redact_url "$DATABASE_URL") (pytest-django uses test_<name>)"
else
    say "Database: SQLite (DATABASE_URL unset)"
fi

# Chromium for the browser journeys (tests/browser/). Playwright's own browser
# download is not used: the tests drive Debian's chromium package.
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "No Chromium at $chromium: installing Debian's chromium package"
    # Wait for another apt/dpkg run (up to 10 minutes) instead of failing at once.
    apt_options=(-o DPkg::Lock::Timeout=600)
    if ! { apt-get "${apt_options[@]}" update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" install -y -qq chromium; }; then
        warn "apt-get could not install chromium"
    fi
fi
if [ -x "$chromium" ]; then
    say "Chromium for the browser tests: $("$chromium" --version 2>/dev/null || echo "$chromium")"
elif [ -n "${CI:-}" ]; then
    die "no Chromium at $chromium and it could not be installed (needs root and Debian's" \
        "chromium package); CI runs the browser journeys in tests/browser/"
else
    shout "NO CHROMIUM at $chromium: the browser journeys in tests/browser/ will be SKIPPED." \
        "Install it with: sudo apt-get install chromium (or set CHROMIUM_PATH)."
fi

step "makemigrations --check"
DJANGO_SETTINGS_MODULE=clinic.test_settings \
    "$VPY" manage.py makemigrations --check --dry-run

step "pytest"
# Exit code 5 (no tests collected) means the suite is broken: fail on it too.
read -r -a pytest_args <<<"${PYTEST_ARGS:-}"
status=0
"$VPY" -m pytest ${pytest_args[@]+"${pytest_args[@]}"} || status=$?
if [ "$status" -eq 5 ]; then
    die "pytest collected no tests (exit code 5): the test suite is broken"
elif [ "$status" -ne 0 ]; then
    die "pytest failed (exit code $status)"
fi

step "Benchmarks (smoke: BENCH_SMOKE=1)"
bash "$ROOT/scripts/bench.sh" --smoke

step "make test passed"
