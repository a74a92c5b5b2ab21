# mkepipe — `make demo` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export PREFECT_HOME ?= $(CURDIR)/.prefect
PORT ?= 4200
EXPERIMENT ?= nyu

.PHONY: setup serve stop demo test test-all reproduce bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

serve: setup  ## local Prefect server + `mke serve`, left running; UI at http://127.0.0.1:$(PORT)
	PORT=$(PORT) EXPERIMENT=$(EXPERIMENT) bash scripts/serve.sh start

stop:  ## stop what `make serve` started
	PORT=$(PORT) bash scripts/serve.sh stop

demo: setup  ## serve, run mke/$(EXPERIMENT) to completion, print the results, stop
	PORT=$(PORT) EXPERIMENT=$(EXPERIMENT) bash scripts/demo.sh

test: setup  ## install and run the test suite (slow tests excluded)
	$(BIN)/pytest -q

test-all: setup
	$(BIN)/pytest -q -m ''

reproduce: setup  ## paper Table 1 over 10 seeds
	$(BIN)/mke reproduce twomoon --seeds 10

bench: setup
	$(BIN)/python bench/overhead.py

clean:
	rm -rf data models labels reports service inbox .prefect
