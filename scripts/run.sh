#!/usr/bin/env bash
# `make run`: the whole product on this machine, ready to click through.
#
#   venv -> Redis (found, started, or locmem) -> migrate -> seed_demo ->
#   task worker (background) -> dev server on http://127.0.0.1:$PORT/admin/
#
# Ctrl-C, a TERM/HUP signal or the server exiting stops everything this script
# started (the worker and a project-local redis-server). Works without a terminal.
#
# Environment: PORT (default 8000), DEBUG (default true here), DATABASE_URL,
# REDIS_URL (default redis://127.0.0.1:6379/0; "locmem" forces the in-process
# cache), DEMO_PASSWORD (password of the demo logins), and every variable that
# clinic/settings.py reads.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap_cleanup

PORT="${PORT:-8000}"
export DEBUG="${DEBUG:-true}"
export DJANGO_SETTINGS_MODULE=clinic.settings
# Python output straight to the terminal/log, not in blocks.
export PYTHONUNBUFFERED=1

ensure_venv
if port_open 127.0.0.1 "$PORT"; then
    die "port $PORT on 127.0.0.1 is already in use (another make run?); try: make run PORT=8001"
fi
ensure_var
ensure_database

# --- Redis ---------------------------------------------------------------------
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
if [ "$REDIS_URL" = "locmem" ]; then
    warn "REDIS_URL=locmem: using the in-process cache (not shared with the worker)"
elif redis_answers "$REDIS_URL"; then
    say "Using Redis at $(redact_url "$REDIS_URL")"
elif start_local_redis; then
    warn "Redis at $(redact_url "$REDIS_URL") did not answer; using the local one instead"
    REDIS_URL="redis://127.0.0.1:$LOCAL_REDIS_PORT/0"
else
    shout "NO REDIS: $(redact_url "$REDIS_URL") did not answer and no redis-server could be started." \
        "Falling back to REDIS_URL=locmem: an in-process cache per process, so the web" \
        "server and the task worker do NOT share cached values (dashboard numbers may" \
        "be stale). Install/start Redis for the real setup."
    REDIS_URL=locmem
fi
export REDIS_URL

# --- Database and demo data ------------------------------------------------------
say "Applying migrations"
"$VPY" manage.py migrate --noinput

say "Loading demo data (idempotent)"
seed_output=$("$VPY" manage.py seed_demo 2>&1) || {
    printf '%s\n' "$seed_output" >&2
    die "manage.py seed_demo failed"
}
printf '%s\n' "$seed_output"

# --- Processes ---------------------------------------------------------------------
say "Starting the task worker (manage.py run_worker: db_worker with a heartbeat)"
"$VPY" manage.py run_worker --interval 1 --no-reload </dev/null &
worker_pid=$!
STARTED_PIDS="$worker_pid $STARTED_PIDS"

say "Starting the development server on 127.0.0.1:$PORT"
"$VPY" manage.py runserver "127.0.0.1:$PORT" </dev/null &
server_pid=$!
STARTED_PIDS="$server_pid $STARTED_PIDS"

# Print the banner once the server accepts connections (or has given up).
wait_for_server "$server_pid" "$PORT" || true

cat <<EOF

================================================================================
  Clinic admin:  http://127.0.0.1:$PORT/admin/

  Demo logins: admin (superuser), staff (Clinic staff), manager (Managers)
  seed_demo said:
$(printf '%s\n' "$seed_output" | sed 's/^/    /')

  Password: \$DEMO_PASSWORD if it was set when the demo users were created;
  otherwise the one seed_demo printed on its first run.
  Redis: $(redact_url "$REDIS_URL")   Stop with Ctrl-C.
================================================================================

EOF

# Wait for the server; a signal interrupts the wait and the traps clean up.
status=0
wait "$server_pid" || status=$?
say "Development server exited (status $status); stopping the worker"
exit "$status"
