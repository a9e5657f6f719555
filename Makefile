# Two entry points for a fresh machine: `make demo` (set up, train, evaluate, plot) and
# `make test` (set up, run the test suite). Both create or reuse the virtualenv in .venv/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_NAME ?= demo
DEMO_STEPS ?= 2000

.PHONY: demo test bench mutation clean-venv

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: $(VENV)/.installed
	$(PY) main.py $(DEMO_NAME) -x btcvae_dsprites --max-steps $(DEMO_STEPS) --no-test
	$(PY) main.py $(DEMO_NAME) --is-eval-only --is-metrics --no-test --metrics-images 100000 --dci-trees 10
	$(PY) main_viz.py $(DEMO_NAME) all
	@echo "Results are in results/$(DEMO_NAME): model.pt, specs.json, train_losses.log, train_steps.log, metrics.log and the plots."

# pytest exits with 5 when it collected no test: that must fail too.
test: $(VENV)/.installed
	$(PY) -m pytest tests -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no test was collected"; exit 1; fi; exit $$rc

bench: $(VENV)/.installed
	$(PY) bench/bench_training.py
	$(PY) bench/bench_metrics.py

# Mutation testing of the numeric core with mutmut (setup.cfg: modules and their tests; the
# record is tests/MUTATION.md). Not part of `make test` or CI. Results are kept in mutants/, so
# an interrupted run continues where it stopped; `rm -rf mutants` starts afresh.
mutation: $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	OMP_NUM_THREADS=1 $(PY) -m mutmut run --max-children 2 || true
	$(PY) -m mutmut results

clean-venv:
	rm -rf $(VENV)
