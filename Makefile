# Every target does its own set-up: a fresh clone needs only python3 (3.11, 3.12 or 3.13) and
# pip. Another Python beside the default: make test PYTHON=python3.13 VENV=.venv-3.13
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo ui docs test test-fast lint clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup  ## run the whole chain against the sandboxes through a real Dagster instance
	$(BIN)/python -m reo_dt_assets_dev.demo

# Options of `make ui`, e.g. UI_ARGS="--port 3001 --dt-port 8711 --reo-port 8721"
UI_ARGS ?=
ui: setup  ## the sandboxes and `dg dev` on the same instance; Ctrl-C, SIGTERM or SIGHUP stops all
	$(BIN)/python -m reo_dt_assets_dev.dev $(UI_ARGS)

docs: setup  ## the docs site (docs/, mkdocs.yml) on http://127.0.0.1:8000, rebuilt as files change
	$(BIN)/mkdocs serve

lint: setup  ## ruff, pyright, and `dg check defs` (the code location loads)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright --pythonpath $(BIN)/python
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg check defs

test: lint  ## lint, type-check, then every test (three workers: most tests wait on servers)
	$(BIN)/pytest -n 3

test-fast: lint  ## lint, type-check, then every test not marked slow (the inner loop)
	$(BIN)/pytest -n 3 -m "not slow"

clean:
	rm -rf $(VENV) data .dagster_home site
