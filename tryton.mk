# Local Tryton ERP for the Tryton target's tests; the lead's Makefile includes this file.
# make tryton       install requirements-tryton.txt into .venv, build the cached database if needed,
#                   (re)start trytond on 127.0.0.1:$(TRYTON_PORT) with a fresh copy, wait for JSON-RPC
# make tryton-stop  stop it (pid in .tryton/trytond.pid)
TRYTON_PYTHON ?= .venv/bin/python
TRYTON_PORT ?= 8000
export TRYTON_PORT

.tryton/installed.stamp: requirements-tryton.txt $(TRYTON_PYTHON)
	@mkdir -p .tryton
	$(TRYTON_PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-tryton.txt
	@touch $@

tryton: .tryton/installed.stamp
	$(TRYTON_PYTHON) scripts/tryton/serve.py start

tryton-stop:
	@$(TRYTON_PYTHON) scripts/tryton/serve.py stop

.PHONY: tryton tryton-stop
