# elizabus: `make run` serves, `make test` tests. Both set up .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test lint format bench migrate superuser clean chaos ui elizaos-host elizaos-agent

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	-$(BIN)/python manage.py fetch_ui --if-missing
	$(BIN)/python manage.py ensure_demo_agent
	DJANGO_SECURE_COOKIES=$${DJANGO_SECURE_COOKIES:-0} $(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The elizaOS web UI (npm @elizaos/client, pinned), checked against the registry's integrity.
ui: $(STAMP)
	$(BIN)/python manage.py fetch_ui

superuser: migrate
	$(BIN)/python manage.py createsuperuser

clean:
	rm -rf $(VENV) var .pytest_cache

chaos: $(STAMP)
	CHAOS_SECONDS=$${CHAOS_SECONDS:-600} $(BIN)/python -m pytest -m faults tests/faults $(PYTEST_ARGS)

# elizaOS characters as agents of the server at ELIZABUS_URL (docs/agents.md, "The elizaOS
# host"): make elizaos-agent CHARACTER="ada.json bob.json". Installs the host's pinned npm
# packages from its lockfile the first time (make elizaos-host; tests/hosts does the same
# through tests/live.py's elizaos_host).
ELIZAOS_HOST := hosts/elizaos
$(ELIZAOS_HOST)/node_modules/.package-lock.json: $(ELIZAOS_HOST)/package-lock.json
	cd $(ELIZAOS_HOST) && npm ci --no-audit --no-fund

elizaos-host: $(ELIZAOS_HOST)/node_modules/.package-lock.json

elizaos-agent: elizaos-host
	@test -n "$(CHARACTER)" || { echo "usage: make elizaos-agent CHARACTER=path/to/character.json"; exit 2; }
	ELIZABUS_URL=$${ELIZABUS_URL:-http://$(HOST):$(PORT)} \
	PGLITE_DATA_DIR=$${PGLITE_DATA_DIR:-$(CURDIR)/var/elizaos/pglite} \
	  node $(ELIZAOS_HOST)/host.mjs $(abspath $(CHARACTER))
