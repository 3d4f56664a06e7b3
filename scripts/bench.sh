#!/usr/bin/env bash
# `make bench` (full size) and the smoke run inside `make test` (--smoke).
#
# Runs every bench/*.py as  DJANGO_SETTINGS_MODULE=clinic.settings .venv/bin/python bench/X.py
# each on a new, freshly migrated database of its own:
#   - DATABASE_URL unset: a new SQLite file under var/bench/ (CLINIC_VAR_DIR is
#     pointed there; the development database is not touched);
#   - DATABASE_URL naming PostgreSQL: database <name>_bench on the same server,
#     dropped and created again before each benchmark (<name> is not touched).
# Static files are collected first (manifest storage, as in production).
# PYTHONPATH includes the project root, so a benchmark can `import clinic`/`doctors`.
# It also sets, unless already set: SECRET_KEY (a bench-only key), SECURE_SSL_REDIRECT
# =false, CACHE_KEY_PREFIX=clinic-bench and REDIS_URL=redis://127.0.0.1:6379/14
# (a project-local redis-server, or locmem, if that does not answer).
# --smoke exports BENCH_SMOKE=1 (tiny sizes) and limits each benchmark to 10 minutes.
# BENCH=load,dashboard runs only the benchmarks named.
# All benchmarks run even if one fails; the exit status says whether any failed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap_cleanup

smoke=0
case "${1:-}" in
    --smoke) smoke=1 ;;
    "") ;;
    *) die "usage: scripts/bench.sh [--smoke]" ;;
esac

shopt -s nullglob
benches=(bench/*.py)
shopt -u nullglob
# BENCH=name1,name2 runs only those (e.g. `make bench BENCH=load`).
if [ -n "${BENCH:-}" ]; then
    benches=()
    IFS=, read -r -a names <<<"$BENCH"
    for name in "${names[@]}"; do
        [ -f "bench/$name.py" ] || die "BENCH: no benchmark bench/$name.py"
        benches+=("bench/$name.py")
    done
fi
if [ "${#benches[@]}" -eq 0 ]; then
    say "No benchmarks in bench/ (nothing to run)"
    exit 0
fi

ensure_venv
ensure_var
# bench/load.py drives wrk; without it, its smoke run says so and skips.
ensure_apt_tool wrk wrk || warn "bench/load.py needs wrk; its smoke run will skip"

export PYTHONUNBUFFERED=1
# bench/X.py runs as a script: make the project importable from it.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export DJANGO_SETTINGS_MODULE=clinic.settings
# Production settings: manage.py alone would default to DEBUG=true.
export DEBUG=false
export SECRET_KEY="${SECRET_KEY:-bench-only-insecure-secret-key-do-not-deploy}"
export SECURE_SSL_REDIRECT="${SECURE_SSL_REDIRECT:-false}"
export CACHE_KEY_PREFIX="${CACHE_KEY_PREFIX:-clinic-bench}"
if [ "$smoke" -eq 1 ]; then export BENCH_SMOKE=1; fi

REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/14}"
if [ "$REDIS_URL" != "locmem" ] && ! redis_answers "$REDIS_URL"; then
    if start_local_redis; then
        REDIS_URL="redis://127.0.0.1:$LOCAL_REDIS_PORT/14"
    else
        shout "NO REDIS for the benchmarks: using REDIS_URL=locmem (numbers are not comparable)."
        REDIS_URL=locmem
    fi
fi
export REDIS_URL

# How each benchmark gets its own empty database: "sqlite", "postgres" or "as-is"
# (another engine: DATABASE_URL is used unchanged).
db_mode=as-is
if [ -z "${DATABASE_URL:-}" ]; then
    db_mode=sqlite
    export CLINIC_VAR_DIR="$VAR/bench"
    mkdir -p "$CLINIC_VAR_DIR"
else
    bench_url=$("$VPY" - "$DATABASE_URL" <<'EOF'
import sys
from urllib.parse import urlsplit, urlunsplit
url = urlsplit(sys.argv[1])
if url.scheme.split("+")[0] in {"postgres", "postgresql", "pgsql", "postgis"}:
    print(urlunsplit(url._replace(path=url.path.rstrip("/") + "_bench")))
EOF
)
    if [ -n "$bench_url" ]; then
        db_mode=postgres
        export DATABASE_URL="$bench_url"
        say "Benchmarks use the PostgreSQL database $(redact_url "$DATABASE_URL")"
    fi
fi

# With DEBUG off the static files storage is the manifest one: pages that use
# {% static %} need collected files (into staticfiles/, not in git).
"$VPY" manage.py collectstatic --noinput -v0

limit=()
if [ "$smoke" -eq 1 ] && command -v timeout >/dev/null 2>&1; then
    limit=(timeout --kill-after=10 600)
fi

failed=()
for bench in "${benches[@]}"; do
    printf '\n== %s%s ==\n' "$bench" "$([ "$smoke" -eq 1 ] && echo ' (smoke)')"
    status=0
    case "$db_mode" in
        sqlite) rm -f "$CLINIC_VAR_DIR"/clinic.sqlite3 "$CLINIC_VAR_DIR"/clinic.sqlite3-* ;;
        postgres) "$VPY" "$ROOT/scripts/ensure_database.py" --fresh >/dev/null || status=$? ;;
    esac
    if [ "$status" -eq 0 ]; then
        "$VPY" manage.py migrate --noinput >/dev/null || status=$?
    fi
    if [ "$status" -eq 0 ]; then
        ${limit[@]+"${limit[@]}"} "$VPY" "$bench" || status=$?
    fi
    if [ "$status" -ne 0 ]; then
        warn "$bench failed (exit code $status)"
        failed+=("$bench")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    die "${#failed[@]} benchmark(s) failed: ${failed[*]}"
fi
say "All ${#benches[@]} benchmark(s) ran"
