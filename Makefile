# `make run` serves the app on Azurite; `make test` runs the whole suite. Both set up what they need.
PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
# The 2021-01-01 Python client, driven by tests/clients/test_clients.py: apart, since it shares 0.1.0's package name.
CLIENT_VENV := .venv-clients
# Microsoft's Python worker (Python 3.13), driven by tests/devhost/test_worker_fidelity.py; skipped without a Python 3.13.
WORKER_VENV := .venv-worker
PORT ?= 7071

.PHONY: run test test-fast lint fuzz bench deps clean worker-venv

deps: $(VENV)/.installed $(CLIENT_VENV)/.installed node_modules/.installed worker-venv

$(VENV)/.installed: requirements.txt requirements-dev.txt
	if [ -L $(VENV) ]; then echo "$(VENV) links to $$(readlink $(VENV)): left as it is"; else \
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV); \
	$(VENV_PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt && touch $@; fi

$(CLIENT_VENV)/.installed: requirements-clients.txt
	if [ -L $(CLIENT_VENV) ]; then echo "$(CLIENT_VENV) links to $$(readlink $(CLIENT_VENV)): left as it is"; else \
	test -x $(CLIENT_VENV)/bin/python || $(PYTHON) -m venv $(CLIENT_VENV); \
	$(CLIENT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-clients.txt && touch $@; fi

# Rebuilt only when its requirements change (scripts/worker_venv.py checks); says so and goes on without a Python 3.13.
worker-venv: $(VENV)/.installed
	$(VENV_PYTHON) -m scripts.worker_venv

# A node_modules or .venv that is a link belongs to another checkout (a clone sharing its environments): npm ci
# would empty it under that checkout, and pip would rewrite its scripts to this one's path, so it is left alone.
node_modules/.installed: package.json package-lock.json
	if [ -L node_modules ]; then echo "node_modules links to $$(readlink node_modules): left as it is"; \
	else npm ci --no-audit --no-fund --loglevel=error && touch $@; fi

local.settings.json:
	cp local.settings.example.json $@

# The app needs neither the clients' nor the worker's environment.
run: $(VENV)/.installed node_modules/.installed local.settings.json
	@# exec: the script is make's own child, so a Ctrl-C that stops it normally is no error of make's
	PORT=$(PORT) exec scripts/run-local.sh

# Lint (ruff.toml: mistakes, likely bugs, import order, line length, dead noqa), one layout (ruff format), the
# layers of shared/ (.importlinter: each layer imports only those below it; docs/architecture.md), and types
# (mypy.ini: strict, on shared/ and devhost/).
lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

# Three parallel workers (pytest-xdist), each with its own Azurite, tables and dev host (tests/conftest.py): much of
# the suite waits on Azurite, subprocesses and timeouts, so three pay on a 2-core machine; four starve it (slower,
# and contention 503s in the race tests). --dist worksteal: an idle worker takes half of the busiest one's queue; with
# `load`, the first share (the tests marked slow, collected first) stayed on one worker (324 s against 195 s).
PYTEST_WORKERS := -n 3 --dist worksteal

test: lint
	$(VENV_PYTHON) -m pytest $(PYTEST_WORKERS)

# The unit tier alone: the rules, names, filters, settings and request reading; no Azurite, a few seconds.
test-fast: $(VENV)/.installed
	$(VENV_PYTHON) -m pytest tests/unit

# The hostile-input fuzzer alone, ten times longer than in `make test` (about ten minutes).
fuzz: deps
	FUZZ_REQUESTS=50000 $(VENV_PYTHON) -m pytest $(PYTEST_WORKERS) tests/api/test_fuzz.py

# Every benchmark; each prints its tables and rewrites its section of docs/benchmarks.md (about 10 minutes).
bench: deps
	$(VENV_PYTHON) -m bench.ops
	$(VENV_PYTHON) -m bench.load
	$(VENV_PYTHON) -m bench.coldstart
	$(VENV_PYTHON) -m bench.purge
	$(VENV_PYTHON) -m bench.cancels

clean:
	rm -rf $(VENV) $(CLIENT_VENV) $(WORKER_VENV) node_modules .azurite .pytest_cache .hypothesis .mypy_cache
