# Heatdesk developer entry points. Only `python3` (3.11+) is needed on the machine:
# every target creates the virtual environment and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lint run test test-unit test-integration test-e2e install clean migrate topics

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## run: broker + database + the four services on embedded defaults (Ctrl-C stops all)
run: $(STAMP)
	$(BIN)/heatdesk dev

## test: the whole suite (unit, integration against the real broker and PostgreSQL, end to end)
test: $(STAMP)
	$(BIN)/ruff check services tests
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check services tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -q tests/e2e

migrate: $(STAMP)
	$(BIN)/heatdesk migrate --create-database

topics: $(STAMP)
	$(BIN)/heatdesk topics

clean:
	rm -rf $(VENV) .heatdesk .pytest_cache *.egg-info
