# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-tools lock lint typecheck pytest bench-tools bench-smtp bench-api bench-live crash fuzz api-fuzz soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Installs come from the lock files, so a fresh machine gets exactly what the suite ran with;
# `make lock` refreshes them from pyproject.toml's ranges.
$(VENV)/.runtime: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.testdeps: requirements-test.lock $(VENV)/.runtime
	$(BIN)/python -m pip install -q -r requirements-test.lock
	touch $@

## Re-resolve the pinned versions from pyproject.toml (then run `make test` and commit both).
lock: | $(BIN)/python
	$(BIN)/python -m pip install -q pip-tools
	$(BIN)/pip-compile -q --upgrade --strip-extras --no-emit-index-url --no-emit-find-links \
	  --no-emit-trusted-host -o requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --upgrade --strip-extras --no-emit-index-url --no-emit-find-links \
	  --no-emit-trusted-host --extra test -o requirements-test.lock pyproject.toml

## Install and start the service on its embedded defaults (SMTP :2525, HTTP :8025, ./var).
run: $(VENV)/.runtime
	$(BIN)/ephemail serve

## Install the test dependencies and run the whole suite: ruff, mypy, pytest.
test: $(VENV)/.testdeps test-tools lint typecheck pytest

## Debian's postfix for the real-client SMTP tests (smtp-source, and a private Postfix
## relaying to us); installed unconfigured, so no system mail service is set up or started.
## Debian's chromium for the browser tests (Playwright drives it; it never downloads one).
test-tools:
	command -v /usr/sbin/smtp-source >/dev/null && command -v /usr/sbin/postfix >/dev/null \
	  && test -x /usr/bin/chromium || \
	  (echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections \
	   && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix chromium)
	## a Redis server of their own for the outage and restart tests (not started as a service)
	command -v redis-server >/dev/null || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server)

lint: $(VENV)/.testdeps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.testdeps
	$(BIN)/mypy

pytest: $(VENV)/.testdeps
	$(BIN)/pytest -q -n 3 --dist loadfile

## Debian tools the benchmarks compare against or drive with (Postfix smtp-sink/smtp-source, wrk).
bench-tools:
	command -v wrk >/dev/null && command -v /usr/sbin/smtp-sink >/dev/null \
	  && command -v valgrind >/dev/null || \
	  (echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections \
	   && apt-get update -q \
	   && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix wrk valgrind)

## Long harnesses (each writes its figures into docs/ with --write-doc).
bench-smtp: $(VENV)/.testdeps bench-tools
	$(BIN)/python bench/smtp_ingest.py --write-doc

bench-api: $(VENV)/.testdeps bench-tools
	$(BIN)/python bench/api_load.py --write-doc

## one node on SQLite, then 1,000 open streams; three nodes need a PostgreSQL database:
## bench/live_events.py --nodes 3 --database-url postgresql+asyncpg://… --redis-url redis://…
bench-live: $(VENV)/.testdeps
	$(BIN)/python bench/live_events.py
	$(BIN)/python bench/live_events.py --streams 1000

crash: $(VENV)/.testdeps
	$(BIN)/python bench/reliability/crash.py --kills 50 --sigterm 5 --write-doc

fuzz: $(VENV)/.testdeps
	$(BIN)/python bench/reliability/fuzz.py --inputs 100000 --write-doc

api-fuzz: $(VENV)/.testdeps
	$(BIN)/python bench/reliability/api_fuzz.py --max-time 300 --max-examples 2000 --workers 2 --write-doc

soak: $(VENV)/.testdeps
	$(BIN)/python bench/reliability/soak.py --write-doc

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
