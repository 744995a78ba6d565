# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest bench-smtp bench-api crash fuzz soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.testdeps: pyproject.toml $(VENV)/.runtime
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

## Install and start the service on its embedded defaults (SMTP :2525, HTTP :8025, ./var).
run: $(VENV)/.runtime
	$(BIN)/ephemail serve

## Install the test dependencies and run the whole suite: ruff, mypy, pytest.
test: $(VENV)/.testdeps lint typecheck pytest

lint: $(VENV)/.testdeps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.testdeps
	$(BIN)/mypy

pytest: $(VENV)/.testdeps
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
