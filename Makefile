# Two commands for a fresh machine with python3 and pip:
#   make run    set up and start the assistant on its embedded default (SQLite)
#   make test   set up and run every check: lint, types, tests on SQLite and PostgreSQL
#               (installs Debian's Dovecot for the IMAP tests when it is missing)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sto run

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

pytest: $(STAMP)
	scripts/ensure-dovecot
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/ledger.py

clean:
	rm -rf $(VENV) var build *.egg-info
