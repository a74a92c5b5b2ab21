# mkepipe — `make demo` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export PREFECT_HOME ?= $(CURDIR)/.prefect
PORT ?= 4200

.PHONY: setup demo test test-all reproduce bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: setup  ## the main job end to end through a local Prefect server
	PORT=$(PORT) bash scripts/demo.sh

test: setup  ## install and run the test suite (slow tests excluded)
	$(BIN)/pytest -q

test-all: setup
	$(BIN)/pytest -q -m ''

reproduce: setup  ## paper Table 1 over 10 seeds
	$(BIN)/mke reproduce twomoon --seeds 10

bench: setup
	$(BIN)/python bench/overhead.py

clean:
	rm -rf data models labels reports .prefect
