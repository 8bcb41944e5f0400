# OneVisit: `make run` serves the demo clinic, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := clinic
run: export ONEVISIT_ENV ?= development

.PHONY: install install-dev translations messages migrate seed run test lint bench bench-book clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed translations

install-dev: $(VENV)/.installed-dev translations

translations: $(VENV)/.installed
	$(BIN)/pybabel -q compile -d clinic/translations

messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o clinic/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i clinic/translations/messages.pot -d clinic/translations

migrate: install
	$(BIN)/flask --app clinic db-upgrade

seed: migrate
	$(BIN)/flask --app clinic seed --if-empty

run: seed
	$(BIN)/flask --app clinic outreach plan
	$(BIN)/flask --app clinic volunteers match
	$(BIN)/flask --app clinic demo-sign-ins
	$(BIN)/flask --app clinic outreach run & dispatcher=$$!; \
	trap 'kill $$dispatcher 2>/dev/null; wait $$dispatcher' EXIT INT TERM; \
	$(BIN)/flask --app clinic serve --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m scheduling bench

bench-book: install
	$(BIN)/python -m clinic.booking.bench_book

clean:
	rm -rf $(VENV) instance .pytest_cache
