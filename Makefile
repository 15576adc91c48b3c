# Set-up and entry points; every target maps onto a `prize` command or pytest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PRIZE := $(BIN)/prize
export PRIZE_HOME ?= $(CURDIR)/prize_home

.PHONY: venv demo leaderboard test test-slow test-leaderboard test-realdata bench lint clean

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch lies on local disk; a loose `torch>=2.2` alone would pull a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,dask]'
	touch $(BIN)/activate

venv: $(BIN)/activate

# The demo: the synthetic twin at small size (small-twin under law 8, the calibrated twin;
# `make demo DEMO_PRESET=small DEMO_LAW=1` for law 1) -> import -> baselines and the data
# set's reference (item kNN playing Cinematch: knn-cinematch-plain from law 4 on, the
# shipped proxy before) -> leaderboard -> submission.
DEMO_PRESET ?= small-twin
DEMO_LAW ?= 8
DEMO ?= synth-$(DEMO_PRESET)-law$(DEMO_LAW)
DEMO_RAW := $(PRIZE_HOME)/raw/$(DEMO)
BASELINES := global_mean movie_mean user_mean biases global_effects

$(DEMO_RAW)/synth.json: | venv
	$(PRIZE) data synth --preset $(DEMO_PRESET) --law $(DEMO_LAW) --seed 0 --out $(DEMO_RAW) \
		--force

$(PRIZE_HOME)/data/$(DEMO)/meta.json: $(DEMO_RAW)/synth.json
	$(PRIZE) data import netflix $(DEMO_RAW) --name $(DEMO) --force

demo: venv $(PRIZE_HOME)/data/$(DEMO)/meta.json
	$(PRIZE) data info $(DEMO)
	for c in $(BASELINES); do $(PRIZE) train baseline --data $(DEMO) --config $$c || exit 1; done
	@# the reference the data set's meta names, by the command the leaderboard gives for it
	@cmd=$$($(PRIZE) leaderboard --data $(DEMO) --json | $(BIN)/python -c \
		'import json, sys; print(json.load(sys.stdin)["reference"].get("train_command", ""))'); \
	if [ -n "$$cmd" ]; then echo "$(BIN)/$$cmd"; $(BIN)/$$cmd || exit 1; fi
	$(PRIZE) leaderboard --data $(DEMO)
	$(PRIZE) submit --data $(DEMO) --predictor baseline-global_effects
	$(PRIZE) submit --data $(DEMO) --check \
		$(PRIZE_HOME)/submissions/$(DEMO)-baseline-global_effects.txt

# `make leaderboard` runs progress2007 on the demo's synthetic twin (small-twin, law 8) and
# reports the Prize's ladder beside the twin's;
# `make leaderboard DATA=/path/to/netflix` imports the real files and runs it there.
SET ?= progress2007
LB_NAME := $(if $(DATA),netflix,$(DEMO))

$(PRIZE_HOME)/data/netflix/meta.json:
	$(PRIZE) data import netflix $(DATA) --name netflix

leaderboard: venv $(PRIZE_HOME)/data/$(LB_NAME)/meta.json
	$(PRIZE) leaderboard run --predictor-set $(SET) --data $(LB_NAME) --final
	$(PRIZE) leaderboard report --data $(LB_NAME)

test: venv
	$(BIN)/python -m pytest -q

test-slow: venv
	$(BIN)/python -m pytest -q -m "slow and not leaderboard"

test-leaderboard: venv
	$(BIN)/python -m pytest -q -s -m leaderboard

# The real-data tests find the shared data as .ci/run does (../shared/data unless set).
test-realdata: venv
	PRIZE_SHARED_DATA="$${PRIZE_SHARED_DATA:-$(abspath ../shared/data)}" \
		$(BIN)/python -m pytest -q -m realdata

# Benchmarks print their figures and ratios against the peers (Surprise: the bench extra).
BENCHES ?= $(sort $(wildcard scripts/bench_*.py))
bench: venv
	$(BIN)/pip install --quiet -e '.[dev,bench,gbdt]'
	export PRIZE_SHARED_DATA="$${PRIZE_SHARED_DATA:-$(abspath ../shared/data)}"; \
	for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: venv
	$(BIN)/ruff check prize tests scripts

clean:
	rm -rf $(VENV) build *.egg-info
