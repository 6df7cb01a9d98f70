# Two commands for a newcomer: `make run` starts the local host, `make test` runs every test.
# Everything installs itself into .venv and node_modules on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7071
export PORT

.DEFAULT_GOAL := help

help:
	@echo "make run     start the local host on http://127.0.0.1:$(PORT) (dashboard at /api/dashboard)"
	@echo "make test    lint, type-check and run every test (starts Azurite and a local Tryton)"
	@echo "make demo    send a signed WooCommerce and a signed Shopify sample order to the running host"
	@echo "make bench   throughput and latency figures as JSON lines"
	@echo "make chaos   kill the host mid-pipeline repeatedly; JSON figures"
	@echo "make tryton  install, initialise and start a local Tryton ERP on 127.0.0.1:8000"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) -m local

demo: $(VENV)/.installed
	$(PY) -m local.demo

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

include tryton.mk

# Tryton is started before the tests and stopped after them, whatever the tests' outcome.
test: $(VENV)/.installed node_modules/.installed
	$(MAKE) lint
	$(MAKE) tryton
	status=0; $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; $(MAKE) tryton-stop; exit $$status

bench: $(VENV)/.installed
	$(PY) -m local.bench

chaos: $(VENV)/.installed
	$(PY) -m local.chaos

clean:
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache

.PHONY: help venv run demo lint test bench chaos clean
