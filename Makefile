# aiocosmos developer entry points. On a fresh machine (Python >= 3.11, Node >= 20, make):
#   make demo   - start the local Cosmos-compatible server, write/query/page sample data, stop it
#   make test   - install everything (virtualenv + test server) and run lint, type checks and the suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SERVER := tests/cosmos-server

.PHONY: all install demo test lint typecheck docs pytest bench clean

all: test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(SERVER)/node_modules/.installed: $(SERVER)/package-lock.json
	npm ci --prefix $(SERVER) --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed $(SERVER)/node_modules/.installed

demo: install
	$(PY) -m examples.demo

lint: $(VENV)/.installed
	$(PY) -m ruff check aiocosmos tests examples benchmarks

typecheck: $(VENV)/.installed
	$(PY) -m mypy

# The docs site, offline; strict: a broken link, a missing page or an unresolved API name fails.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet

pytest: install
	$(PY) -m pytest

test: lint typecheck docs pytest

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: install $(VENV)/.bench-installed
	$(PY) -m benchmarks.harness $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(SERVER)/node_modules .site .pytest_cache .mypy_cache .ruff_cache
