# OneVisit: `make run` serves the demo clinic, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := clinic
run: export ONEVISIT_ENV ?= development

.PHONY: install install-dev translations messages migrate seed run hl7-listen test test-peers lint bench bench-book bench-hl7 clean

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
	$(BIN)/flask --app clinic hl7 listen & listener=$$!; \
	trap 'kill $$dispatcher $$listener 2>/dev/null; wait $$dispatcher $$listener' EXIT INT TERM; \
	$(BIN)/flask --app clinic serve --host $(HOST) --port $(PORT)

# The HL7 v2 patient feed alone (MLLP on HL7_LISTEN_HOST:HL7_LISTEN_PORT, 127.0.0.1:2575); `make run` starts it too.
hl7-listen: migrate
	$(BIN)/flask --app clinic hl7 listen

OIDC_PEER := tests/peers/oidc

# The real OpenID Connect provider the sign-in tests start (npm package oidc-provider, pinned by the lock file).
# Without npm its tests are skipped, except in CI, where they fail.
$(OIDC_PEER)/node_modules/.installed: $(OIDC_PEER)/package.json $(OIDC_PEER)/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd $(OIDC_PEER) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm is not installed: the OpenID Connect sign-in tests will be skipped"; fi

test-peers: $(OIDC_PEER)/node_modules/.installed

# The suite runs in parallel, a worker per core (pytest-xdist), each on its own database (tests/conftest.py);
# a file's tests stay on one worker, so a module's demo clinic loads once. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: install-dev test-peers
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m scheduling bench

bench-book: install
	$(BIN)/python -m clinic.booking.bench_book

bench-hl7: install
	$(BIN)/python -m clinic.hl7.bench

clean:
	rm -rf $(VENV) instance .pytest_cache
