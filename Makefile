# Set-up and entry points; every target maps onto a `prize` command or pytest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PRIZE := $(BIN)/prize
export PRIZE_HOME ?= $(CURDIR)/prize_home

.PHONY: venv demo test test-slow test-realdata bench lint clean

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch lies on local disk; a loose `torch>=2.2` alone would pull a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/activate

venv: $(BIN)/activate

demo: venv
	$(PRIZE) data synth --preset small --seed 0 --out $(PRIZE_HOME)/raw/synth-small
	$(PRIZE) data import netflix $(PRIZE_HOME)/raw/synth-small --name synth-small --force
	$(PRIZE) data info synth-small

test: venv
	$(BIN)/python -m pytest -q

test-slow: venv
	$(BIN)/python -m pytest -q -m slow

test-realdata: venv
	$(BIN)/python -m pytest -q -m realdata

bench: venv
	$(BIN)/python scripts/bench_synth.py
	$(BIN)/python scripts/bench_import.py

lint: venv
	$(BIN)/ruff check prize tests scripts

clean:
	rm -rf $(VENV) build *.egg-info
