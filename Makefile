# AgentGate developer commands. Works on a fresh machine with only Python 3.11+:
# the first target that needs it bootstraps a pinned uv with pip into .venv-tools, and
# installs the project and its dependencies into .venv at the versions in uv.lock
# (`uv sync --locked`), so a framework's release tomorrow cannot change what CI runs.
# `make lock` refreshes uv.lock to the newest releases the ranges in pyproject.toml allow.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .venv-tools
UV_VERSION := 0.13.10
UV     := $(TOOLS)/bin/uv
# crewai pins openai<3, mcp<2 and pydantic<2.13; it is resolved in its own fork of uv.lock
# and gets its own environment, so the main one stays on current releases of the rest.
CREW_VENV := .venv-crewai
CREW_BIN  := $(CREW_VENV)/bin
# --locked: fail if uv.lock does not match pyproject.toml instead of re-resolving.
SYNC = $(UV) sync --locked --python $(PYTHON) --quiet
PYTEST_ARGS ?=

.PHONY: demo test test-main test-crewai lint format bench dev install lock clean help chromium

help:
	@echo "make demo    - install and run the scripted agent demo"
	@echo "make test    - install dev extras (and Debian's chromium for the browser tests) and run the whole test suite"
	@echo "make lint    - ruff + mypy --strict"
	@echo "make format  - ruff format + fixes"
	@echo "make bench   - benchmarks (incl. side by side with agentgate-py 0.1.0)"
	@echo "make lock    - refresh uv.lock (and the tested framework versions) to the newest releases"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@touch $(UV)

# The demo runs a real OpenAI-SDK agent loop (against a local scripted model), so it needs that extra.
# --inexact: a dev environment keeps its test tools when the demo runs in it.
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(SYNC) --inexact --extra openai
	@touch $@

$(VENV)/.installed-dev: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(SYNC) --extra dev
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/agentgate demo

$(CREW_VENV)/.installed: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(CREW_VENV) $(SYNC) --extra crewai --extra test
	@touch $@

lock: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(PYTHON) scripts/tested_versions.py

test: test-main test-crewai

# The dashboard's browser tests drive Debian's chromium through Playwright; no tool may download
# a browser of its own (never `playwright install`). Installed with apt when missing and we are root
# (CI on a new machine runs `make test` as root); otherwise CI must fail, and a developer's run skips
# the browser tests (tests/conftest.py require_program).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
	      || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; \
	  elif [ -n "$$CI" ]; then \
	    echo "chromium is missing and this is not root: install it (apt-get install chromium)" >&2; exit 1; \
	  else \
	    echo "note: chromium is not installed (sudo apt-get install chromium): the browser tests will be skipped"; \
	  fi; }

test-main: $(VENV)/.installed-dev chromium
	$(BIN)/pytest -m "not crewai" -n 2 --dist loadgroup $(PYTEST_ARGS)

test-crewai: $(CREW_VENV)/.installed
	$(CREW_BIN)/pytest -m crewai -p no:cacheprovider $(PYTEST_ARGS) tests/integrations/test_crewai.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

bench: $(VENV)/.installed-dev
	UV=$(UV) $(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(CREW_VENV) $(TOOLS) bench/.venv-old .agentgate .pytest_cache .mypy_cache .ruff_cache
