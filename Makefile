# Pitboss. `make run`: install, migrate, demo data, then web + Celery worker + beat on http://127.0.0.1:8000.
# `make test`: the whole suite. `make help` lists every target.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
HOST ?= 127.0.0.1
PORT ?= 8000
ARGS ?=
VAR_DIR := $(or $(PITBOSS_VAR_DIR),$(CURDIR)/var)
BIN := $(CURDIR)/.venv/bin
# honcho runs commands with the .venv first on PATH and the variables of ./.env, if there is one.
HONCHO := PATH="$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/.venv" $(BIN)/honcho
CHROMIUM := /usr/bin/chromium

.PHONY: help install run test bench bench-gamification bench-segments bench-pixel lint format migrate demo stop clean chromium

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

install: ## install the locked dependencies into .venv (uv sync --frozen; installs uv with pip if missing)
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore uv
	python3 -m uv sync --frozen

migrate: install ## apply migrations (starts the embedded PostgreSQL under var/ when DATABASE_URL is unset)
	$(HONCHO) run python manage.py migrate --noinput

demo: migrate ## create the demo data and print the logins and a new API key (also saved in var/demo-login.txt)
	@mkdir -p "$(VAR_DIR)"
	$(HONCHO) run python manage.py demo --base-url "http://$(HOST):$(PORT)" | tee "$(VAR_DIR)/demo-login.txt"

run: demo ## install, migrate, demo data, then serve web + Celery worker + beat until Ctrl-C (PORT=8000)
	$(HONCHO) start -f Procfile.dev -p $(PORT)

test: install chromium ## the whole test suite (make test ARGS="-k demo" narrows it); no tests collected fails
	$(BIN)/pytest $(ARGS)

bench: install ## the benches: event pipeline (bench/ingest.py), then gamification (each prints JSON last)
	$(BIN)/python bench/ingest.py $(ARGS)
	$(BIN)/python bench/gamification.py

bench-segments: install ## segments at 1M players, rules, backtest (bench/segments.py; last line JSON)
	$(BIN)/python bench/segments.py $(ARGS)

bench-pixel: install ## the conversion pixel against a bare Django view, p99 at 70%, SmartKarrot events (last line JSON)
	$(BIN)/python bench/pixel.py $(ARGS)

bench-gamification: install ## leaderboards at 1M participants, score updates, pipeline with missions (last line JSON)
	$(BIN)/python bench/gamification.py $(ARGS)

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "The browser tests need Debian's chromium at $(CHROMIUM): run 'sudo apt-get install -y chromium'." >&2; \
	    exit 1; \
	  fi; \
	fi

lint: install ## ruff (lint, format check), mypy on services, selectors, tasks and handlers ([tool.mypy]), tests collect
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# mypy's Django plugin imports the settings, which start the embedded PostgreSQL when DATABASE_URL is unset:
	@# a placeholder keeps lint free of any database (nothing connects).
	DATABASE_URL="$${DATABASE_URL:-postgres://lint@127.0.0.1:9/unused}" $(BIN)/mypy
	@# Every test module imports (a renamed helper fails here in seconds, not after CI's setup).
	@out=$$(DATABASE_URL="$${DATABASE_URL:-postgres://lint@127.0.0.1:9/unused}" $(BIN)/pytest --collect-only -q \
		-p no:cacheprovider 2>&1) || { echo "$$out" | tail -40; exit 1; }; echo "$$out" | tail -1

format: install ## ruff: format and fix what lint can fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

stop: ## stop the embedded PostgreSQL (make run and the tests leave it running for the next command)
	@if [ -x "$(BIN)/python" ]; then \
	  "$(BIN)/python" -c 'import sys; from pathlib import Path; from backoffice.embedded_pg import stop; print("Embedded PostgreSQL stopped." if stop(Path(sys.argv[1])) else "Embedded PostgreSQL was not running.")' "$(VAR_DIR)"; \
	fi

clean: stop ## stop the embedded PostgreSQL, then delete var/ (database, broker, screenshots), .venv and caches
	rm -rf var .venv .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
