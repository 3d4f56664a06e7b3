#!/usr/bin/env bash
# Print the path of a Python 3.12 or newer interpreter, or explain and exit 1.
#
# Order: $PYTHON if set; then on PATH python3.13, python3.12, python3.14, python3;
# then pyenv's versions folders (newest first); then /usr/bin and /usr/local/bin.
# Every candidate is actually run: a pyenv shim on PATH that is not selected only
# prints an error, and is skipped.
set -euo pipefail

MIN_MAJOR=3
MIN_MINOR=12

# Succeeds when "$1" runs, is >= 3.12 and can create a venv (has ensurepip).
usable() {
    "$1" - "$MIN_MAJOR" "$MIN_MINOR" >/dev/null 2>&1 <<'EOF'
import sys
if sys.version_info < (int(sys.argv[1]), int(sys.argv[2])):
    sys.exit(1)
import ensurepip, venv  # noqa: F401,E401  (Debian ships these separately)
EOF
}

# Print the candidates, one per line, in order of preference.
candidates() {
    if [ -n "${PYTHON:-}" ]; then
        printf '%s\n' "$PYTHON"
    fi
    local name path
    for name in python3.13 python3.12 python3.14 python3; do
        if path=$(command -v "$name" 2>/dev/null); then printf '%s\n' "$path"; fi
    done

    local roots=() root dir
    if command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root 2>/dev/null) && roots+=("$root")
    fi
    if [ -n "${PYENV_ROOT:-}" ]; then roots+=("$PYENV_ROOT"); fi
    roots+=("$HOME/.pyenv")
    for root in "${roots[@]}"; do
        [ -d "$root/versions" ] || continue
        # Plain releases only (3.13.0, not 3.13.0t or 3.14-dev), newest first.
        find "$root/versions" -mindepth 1 -maxdepth 1 -name '3.*' -print 2>/dev/null |
            grep -E '/3\.[0-9]+\.[0-9]+$' | sort -rV |
            while IFS= read -r dir; do
                if [ -x "$dir/bin/python3" ]; then printf '%s\n' "$dir/bin/python3"; fi
            done || true
    done

    for dir in /usr/bin /usr/local/bin; do
        for path in "$dir"/python3.1[2-9]; do
            if [ -x "$path" ]; then printf '%s\n' "$path"; fi
        done
    done
    return 0
}

while IFS= read -r candidate; do
    if usable "$candidate"; then
        printf '%s\n' "$candidate"
        exit 0
    fi
done < <(candidates)

cat >&2 <<EOF
error: no Python ${MIN_MAJOR}.${MIN_MINOR} or newer found (Django 6.1 needs it).
  Looked on PATH (python3.13, python3.12, python3.14, python3), in pyenv's versions
  folders and in /usr/bin, /usr/local/bin (python3.12 ... python3.19).
  Install one (for example 'pyenv install 3.13', or your system's python3.13 and
  python3.13-venv packages), or point the Makefile at one: make run PYTHON=/path/to/python3.13
EOF
exit 1
