#!/usr/bin/env bash
# `make serve`: the production profile on this machine.
#
#   venv -> PostgreSQL database (created if missing) -> Redis -> SECRET_KEY ->
#   migrate -> collectstatic -> [seed_demo] -> task worker + gunicorn (N workers)
#   on http://127.0.0.1:$PORT/admin/
#
# DEBUG is off and the static files are served by whitenoise from the collected,
# compressed, hashed copies, exactly as in production. The one difference: it
# serves plain HTTP on loopback, so SERVE_INSECURE_LOCAL=true lets the session
# and CSRF cookies travel without TLS (`check --deploy` warns about it). A real
# deployment serves HTTPS behind a proxy instead: see docs/deploy.md.
#
# Ctrl-C, a TERM/HUP signal, or gunicorn or the worker exiting stops everything
# this script started.
#
# Environment (all optional):
#   PORT            port on 127.0.0.1 (default 8000)
#   WEB_WORKERS     gunicorn worker processes (default 2 x CPUs + 1, at most 9)
#   DATABASE_URL    default postgres://postgres@127.0.0.1:5432/clinic
#   REDIS_URL       default redis://127.0.0.1:6379/0 (must be a real Redis)
#   SECRET_KEY      default: read from var/secret_key, generated there (mode 0600)
#                   on the first run
#   EMAIL_BACKEND   default: the file backend, one file per message in
#                   EMAIL_FILE_PATH (default var/mail); set SMTP variables to send
#   SEED_DEMO       true: load the demo data and users (manage.py seed_demo)
#   DATABASE_CONN_MAX_AGE  default 60 (persistent connections per worker)
# and every variable that clinic/settings.py reads.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap_cleanup

PORT="${PORT:-8000}"
export DJANGO_SETTINGS_MODULE=clinic.settings
export PYTHONUNBUFFERED=1
export DEBUG=false
export SERVE_INSECURE_LOCAL=true
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/clinic}"
export DATABASE_CONN_MAX_AGE="${DATABASE_CONN_MAX_AGE:-60}"
export EMAIL_BACKEND="${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}"
export EMAIL_FILE_PATH="${EMAIL_FILE_PATH:-$VAR/mail}"

ensure_venv
ensure_var
if port_open 127.0.0.1 "$PORT"; then
    die "port $PORT on 127.0.0.1 is already in use; try: make serve PORT=8001"
fi
ensure_database

# --- Redis: every process must share one cache; no in-process fallback here ------
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
if [ "$REDIS_URL" = "locmem" ]; then
    die "REDIS_URL=locmem is not a production setting: each process would cache on its own"
elif redis_answers "$REDIS_URL"; then
    say "Using Redis at $(redact_url "$REDIS_URL")"
elif start_local_redis; then
    warn "Redis at $(redact_url "$REDIS_URL") did not answer; using the local one instead"
    REDIS_URL="redis://127.0.0.1:$LOCAL_REDIS_PORT/0"
else
    die "no Redis at $(redact_url "$REDIS_URL") and no redis-server to start: install or start Redis"
fi
export REDIS_URL

# --- SECRET_KEY: given, or kept in var/secret_key (readable by this user only) ----
if [ -z "${SECRET_KEY:-}" ]; then
    key_file="$VAR/secret_key"
    if [ ! -s "$key_file" ]; then
        (
            umask 077
            "$VPY" -c 'import secrets; print(secrets.token_urlsafe(64))' >"$key_file"
        )
        say "Generated a new SECRET_KEY in $key_file (mode 0600)"
    fi
    chmod 600 "$key_file"
    SECRET_KEY=$(<"$key_file")
    export SECRET_KEY
fi

# --- Database, static files, demo data ---------------------------------------------
say "Applying migrations"
"$VPY" manage.py migrate --noinput
say "Collecting static files"
"$VPY" manage.py collectstatic --noinput -v0
if [ "${SEED_DEMO:-false}" = "true" ]; then
    say "Loading demo data (idempotent)"
    "$VPY" manage.py seed_demo
fi

# --- Processes ---------------------------------------------------------------------
if [ -z "${WEB_WORKERS:-}" ]; then
    cpus=$(nproc 2>/dev/null || echo 1)
    WEB_WORKERS=$((2 * cpus + 1))
    if [ "$WEB_WORKERS" -gt 9 ]; then WEB_WORKERS=9; fi
fi

say "Starting the task worker (manage.py run_worker: db_worker with a heartbeat)"
"$VPY" manage.py run_worker --no-reload </dev/null &
worker_pid=$!
STARTED_PIDS="$worker_pid $STARTED_PIDS"

say "Starting gunicorn with $WEB_WORKERS workers on 127.0.0.1:$PORT"
"$ROOT/.venv/bin/gunicorn" clinic.wsgi \
    --bind "127.0.0.1:$PORT" \
    --workers "$WEB_WORKERS" \
    --timeout 30 \
    --graceful-timeout 10 \
    --access-logfile - \
    --no-control-socket \
    </dev/null &
server_pid=$!
STARTED_PIDS="$server_pid $STARTED_PIDS"

wait_for_server "$server_pid" "$PORT" || true

cat <<EOF

================================================================================
  Clinic admin (production profile):  http://127.0.0.1:$PORT/admin/

  gunicorn: $WEB_WORKERS workers   task worker: 1   DEBUG: off
  Database: $(redact_url "$DATABASE_URL")
  Redis:    $(redact_url "$REDIS_URL")
  Mail:     $EMAIL_BACKEND$([ "$EMAIL_BACKEND" = django.core.mail.backends.filebased.EmailBackend ] && echo " -> $EMAIL_FILE_PATH")

  Plain HTTP on loopback (SERVE_INSECURE_LOCAL=true); never expose this port.
  No login yet? SEED_DEMO=true make serve creates the demo users, or see
  docs/operations.md, "make serve", for createsuperuser.   Stop with Ctrl-C.
================================================================================

EOF

# Whichever stops first (or a signal) ends the session; the trap stops the rest.
status=0
wait -n "$server_pid" "$worker_pid" || status=$?
if ! kill -0 "$server_pid" 2>/dev/null; then
    say "gunicorn exited (status $status); stopping the task worker"
else
    say "The task worker exited (status $status); stopping gunicorn"
fi
exit "$status"
