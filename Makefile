# The README's two commands: `make demo` and `make test`. Both start from nothing.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint typecheck unit bench clean system-deps

$(BIN)/promobot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/promobot system-deps
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

test: lint typecheck unit

lint: $(BIN)/promobot
	$(BIN)/ruff check bot tests benchmarks scripts
	$(BIN)/ruff format --check bot tests benchmarks scripts
	$(BIN)/yamllint -c .yamllint.yml .github deploy
	$(BIN)/lint-imports --no-cache

typecheck: $(BIN)/promobot
	$(BIN)/mypy

# Tests on PYTEST_WORKERS processes (pytest-xdist): most of their time is spent waiting on
# servers and subprocesses, so more workers than this machine's 2 cores still pay. Each worker
# runs its own Redis (tests/redis_server.py); worksteal evens out the long tests.
PYTEST_WORKERS ?= 4
unit: $(BIN)/promobot system-deps
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal

system-deps:
	bash scripts/system-deps.sh

bench: $(BIN)/promobot
	$(BIN)/python benchmarks/status_plan.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
