# Clinic admin: developer commands. Each target is a script in scripts/, so the
# same steps run by hand, from make, and in CI (.ci/run).
#
#   make run     the product on http://127.0.0.1:8000/admin/ with demo data; Ctrl-C stops it
#   make serve   the production profile: gunicorn + task worker, PostgreSQL, Redis, DEBUG off
#   make test    lint + migrations check + pytest + benchmark smoke run
#   make lint    ruff check and ruff format --check
#   make format  ruff format and ruff check --fix
#   make bench   every bench/*.py at full size
#   make clean   caches, collected static files, local Redis/bench leftovers
#   make distclean  clean + the venv and the local SQLite database
#
# Variables: PORT=8001 (make run, make serve), PYTHON=/path/to/python3.13 (the interpreter for
# a new .venv; otherwise found on PATH, in pyenv's versions, or in /usr/bin).

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python

# PORT=... and PYTHON=... given on the command line reach the scripts as
# environment variables (make exports command-line variables).

.PHONY: help venv run serve test lint format bench clean distclean

help:
	@sed -n 's/^#   make /  make /p' $(firstword $(MAKEFILE_LIST))

# Internal: create .venv (Python >= 3.12) and install requirements-dev.txt when
# either requirements file changed.
venv:
	@bash scripts/venv.sh

run:
	@bash scripts/run.sh

serve:
	@bash scripts/serve.sh

test:
	@bash scripts/test.sh

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench:
	@bash scripts/bench.sh

clean:
	rm -rf .pytest_cache .ruff_cache staticfiles var/redis var/bench
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)
	rm -f var/clinic.sqlite3 var/clinic.sqlite3-*
