# Shared helpers for scripts/run.sh, scripts/test.sh and scripts/bench.sh.
# Source it (". scripts/lib.sh"); it cds to the project root and sets:
#   ROOT  the project root      VPY  the venv's python      VAR  the var/ folder
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
VPY="$ROOT/.venv/bin/python"
VAR="${CLINIC_VAR_DIR:-$ROOT/var}"

# Processes started by this script, stopped by stop_started (newest first).
STARTED_PIDS=""

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# A loud banner on stderr, for degraded modes the user must not miss.
shout() {
    {
        printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
        printf '!!! %s\n' "$@"
        printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n'
    } >&2
}

# "redis://:secret@host:6379/0" -> "redis://***@host:6379/0", for messages.
redact_url() { printf '%s' "$1" | sed -E 's#://([^/:@]*):[^/@]*@#://\1:***@#'; }

ensure_venv() { bash "$ROOT/scripts/venv.sh"; }

# ensure_apt_tool COMMAND PACKAGE: succeed if COMMAND is on PATH, installing
# Debian's PACKAGE first when it is missing and this user may (root, apt-get).
# Otherwise explain what to install and return 1.
ensure_apt_tool() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "Installing $package (apt-get) for $tool"
        # Wait for another apt/dpkg run (up to 10 minutes) instead of failing at once.
        local lock=(-o DPkg::Lock::Timeout=600)
        if DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq "$package" >/dev/null ||
            { apt-get "${lock[@]}" update -qq >/dev/null &&
                DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq "$package" >/dev/null; }; then
            command -v "$tool" >/dev/null 2>&1 && return 0
        fi
        warn "apt-get install $package failed"
        return 1
    fi
    warn "$tool is not installed and this user cannot install it: run 'sudo apt-get install $package'"
    return 1
}

ensure_var() { mkdir -p "$VAR"; }

# Wait (up to 30 s) until process $1 listens on 127.0.0.1:$2, or has exited.
wait_for_server() {
    local pid=$1 port=$2
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_open 127.0.0.1 "$port" && return 0
        sleep 0.2
    done
    return 1
}

# Succeeds when the Redis at URL "$1" answers PING within a second.
redis_answers() {
    "$VPY" - "$1" >/dev/null 2>&1 <<'EOF'
import sys
import redis
client = redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1, socket_timeout=1)
sys.exit(0 if client.ping() else 1)
EOF
}

# Print the first port from $1 upwards (20 tried) that nothing listens on.
free_port() {
    "$VPY" - "$1" <<'EOF'
import socket, sys
start = int(sys.argv[1])
for port in range(start, start + 20):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        sys.exit(0)
sys.exit(1)
EOF
}

# Succeeds when something accepts TCP connections on host "$1", port "$2".
port_open() {
    "$VPY" - "$1" "$2" >/dev/null 2>&1 <<'EOF'
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.5):
    pass
EOF
}

# Start a throw-away redis-server on 127.0.0.1 (port 6380 or the next free one),
# keeping nothing on disk; its files live in $VAR/redis. Sets LOCAL_REDIS_PORT
# (read by the sourcing script).
# Returns 1 if redis-server is not installed or does not come up.
start_local_redis() {
    command -v redis-server >/dev/null 2>&1 || return 1
    local port dir pid
    port=$(free_port 6380) || {
        warn "no free port in 6380-6399 for a local redis-server"
        return 1
    }
    dir="$VAR/redis"
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --dir "$dir" --logfile "$dir/redis-$port.log" --daemonize no \
        </dev/null >/dev/null 2>&1 &
    pid=$!
    STARTED_PIDS="$pid $STARTED_PIDS"
    local tries=0
    until redis_answers "redis://127.0.0.1:$port/0"; do
        tries=$((tries + 1))
        if ! kill -0 "$pid" 2>/dev/null || [ "$tries" -ge 50 ]; then
            warn "local redis-server on port $port did not start; see $dir/redis-$port.log"
            return 1
        fi
        sleep 0.1
    done
    # shellcheck disable=SC2034  # used by the scripts that source this file
    LOCAL_REDIS_PORT=$port
    say "Started a project-local redis-server on 127.0.0.1:$port (pid $pid, no persistence)"
}

# If DATABASE_URL names a PostgreSQL database: check the server answers and create
# the database when it does not exist. Nothing to do for SQLite.
ensure_database() {
    if [ -n "${DATABASE_URL:-}" ]; then
        "$VPY" "$ROOT/scripts/ensure_database.py"
    fi
}

# Stop one process: TERM, up to 10 s grace, then KILL.
stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "pid $pid did not stop after 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Stop everything this script started, newest first. Used as the EXIT trap.
# Further signals are ignored meanwhile: make forwards its SIGTERM to this script,
# which often arrives just after the one sent to the whole process group, and
# must not cut the clean-up short.
stop_started() {
    trap '' INT TERM HUP
    local pid
    for pid in $STARTED_PIDS; do
        stop_pid "$pid"
    done
    STARTED_PIDS=""
}

# Run stop_started on exit, and turn INT/TERM/HUP into an exit (so it runs too).
trap_cleanup() {
    trap stop_started EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}
