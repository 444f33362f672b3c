# AgentGate developer commands. Works on a fresh machine with only Python 3.11+:
# the first target that needs it creates .venv with `python3 -m venv`, bootstraps uv
# with pip (uv resolves the integration extras in seconds where pip takes minutes),
# and installs the project.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
# crewai pins openai<3, mcp<2 and pydantic<2.13; it gets its own environment so the
# main one stays on current releases of everything else.
CREW_VENV := .venv-crewai
CREW_BIN  := $(CREW_VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test test-main test-crewai lint format bench dev install clean help

help:
	@echo "make demo    - install and run the scripted agent demo"
	@echo "make test    - install dev extras and run the whole test suite"
	@echo "make lint    - ruff + mypy --strict"
	@echo "make format  - ruff format + fixes"
	@echo "make bench   - benchmarks (incl. side by side with agentgate-py 0.1.0)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	@touch $(UV)

# The demo runs a real OpenAI-SDK agent loop (against a local scripted model), so it needs that extra.
$(VENV)/.installed: pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python -e '.[openai]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/agentgate demo

$(CREW_BIN)/python:
	$(PYTHON) -m venv $(CREW_VENV)

$(CREW_VENV)/.installed: pyproject.toml | $(CREW_BIN)/python
	$(CREW_BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(CREW_BIN)/uv pip install --quiet --python $(CREW_BIN)/python -e '.[crewai]' pytest pytest-asyncio pytest-timeout
	@touch $@

test: test-main test-crewai

test-main: $(VENV)/.installed-dev
	$(BIN)/pytest -m "not crewai" -n 2 --dist loadgroup $(PYTEST_ARGS)

test-crewai: $(CREW_VENV)/.installed
	$(CREW_BIN)/pytest -m crewai -p no:cacheprovider $(PYTEST_ARGS) tests/integrations/test_crewai.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(CREW_VENV) bench/.venv-old .agentgate .pytest_cache .mypy_cache .ruff_cache
