# Two commands for a newcomer: `make run` (set up and serve) and `make test` (set up and test).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test lint bench browser clean

$(BIN)/csat: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(BIN)/csat

run: $(BIN)/csat
	$(BIN)/csat serve

test: $(BIN)/csat
	$(BIN)/python -m pytest

lint: $(BIN)/csat
	$(BIN)/ruff check bot channels storage tests bench
	$(BIN)/mypy bot channels storage
	$(BIN)/lint-imports

browser:  ## Debian's Chromium for the dashboard's browser tests (they skip without it)
	command -v chromium >/dev/null || apt-get install -y chromium

bench: $(BIN)/csat
	$(BIN)/python bench/score.py --answers 1000000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
