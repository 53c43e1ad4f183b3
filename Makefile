# One entry point for people and CI. `make serve` and `make check` are the README's two
# commands; both install everything they need into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install system-deps serve test lint types check format bench bench-deps clean sdk-venvs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# bubblewrap and the sandbox's packages (needs root; without it, environments report
# themselves unavailable and the sandbox tests skip, saying why)
system-deps:
	@sh scripts/install-system-deps.sh || echo "warning: sandbox prerequisites missing (see above)"

serve: $(STAMP) system-deps
	$(BIN)/junction serve

# published google-genai releases in cached venvs, for the release-matrix test
sdk-venvs: $(STAMP)
	sh scripts/sdk-venvs.sh $(BIN)/python

# two workers, one test file per worker at a time (module-scoped servers stay together)
test: $(STAMP) system-deps sdk-venvs
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP)
	$(BIN)/mypy

check: lint types test

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

# one table: Junction against a direct provider call, LiteLLM's proxy when `make
# bench-deps` has installed it, and the sandbox against bare python3; BENCH_QUICK=1: ~1 min
bench: $(STAMP)
	$(BIN)/python bench/table.py

# the optional `bench` extra in its own virtualenv (needs PyPI once; `make bench` does not)
bench-deps:
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q '.[bench]'

clean:
	rm -rf $(VENV) junction-data .pytest_cache .mypy_cache .ruff_cache
