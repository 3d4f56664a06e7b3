#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 if needed, and (re)install requirements-dev.txt
# whenever requirements.txt or requirements-dev.txt changed since the last install.
# Safe to run every time: when nothing changed it only checks and returns.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

VENV=.venv
VPY="$VENV/bin/python"
STAMP="$VENV/.requirements.sha256"

venv_ok() {
    [ -x "$VPY" ] &&
        "$VPY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' \
            >/dev/null 2>&1
}

if ! venv_ok; then
    if [ -e "$VENV" ]; then
        if [ ! -f "$VENV/pyvenv.cfg" ]; then
            echo "error: $ROOT/$VENV exists but is not a virtualenv; move it away." >&2
            exit 1
        fi
        echo "==> $VENV is broken or older than Python 3.12: recreating it"
        rm -rf "$VENV"
    fi
    PY=$(bash "$ROOT/scripts/find-python.sh")
    echo "==> Creating $VENV with $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
    "$PY" -m venv "$VENV"
fi

# Key the install on the requirements files and the interpreter version.
want=$("$VPY" - requirements.txt requirements-dev.txt <<'EOF'
import hashlib, sys
h = hashlib.sha256(sys.version.encode())
for name in sys.argv[1:]:
    with open(name, "rb") as f:
        h.update(name.encode() + b"\0" + f.read())
print(h.hexdigest())
EOF
)
have=$(cat "$STAMP" 2>/dev/null || true)

if [ "$want" != "$have" ]; then
    echo "==> Installing requirements-dev.txt into $VENV"
    pip_flags=(--disable-pip-version-check)
    if [ -n "${CI:-}" ] || [ ! -t 1 ]; then pip_flags+=(--progress-bar off); fi
    "$VPY" -m pip install "${pip_flags[@]}" -r requirements-dev.txt
    printf '%s\n' "$want" >"$STAMP"
fi
