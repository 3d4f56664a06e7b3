#!/usr/bin/env bash
# `make test`: everything a change must pass, in order, stopping at the first failure.
#
#   venv -> ruff check -> ruff format --check -> Redis/PostgreSQL ready ->
#   makemigrations --check -> pytest (whole suite) -> smoke run of every bench/*.py
#
# Environment: DATABASE_URL (unset = SQLite; a postgres:// URL is created if
# missing), REDIS_URL (default redis://127.0.0.1:6379/13, as clinic.test_settings),
# PYTEST_ARGS (extra pytest arguments, e.g. PYTEST_ARGS="-k dashboard -x").
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

# The browser tests drive Debian's Chromium; without it they skip (and say so).
if ! ensure_apt_tool chromium chromium; then
    shout "NO CHROMIUM: the browser tests (pytest -m browser) will be skipped."
fi

if [ -n "${DATABASE_URL:-}" ]; then
    ensure_database
    say "Database: $(redact_url "$DATABASE_URL") (pytest-django uses test_<name>)"
else
    say "Database: SQLite (DATABASE_URL unset)"
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
