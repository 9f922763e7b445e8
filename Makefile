# Two commands do all the set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: install run test lint bench bench-runners bench-gpu viz screenshots clean-data

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# the tests also cover MLflow tracking (tests/test_tracking.py): the `mlflow` extra on top
$(VENV)/.installed-mlflow: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,mlflow]'
	touch $@

install: $(VENV)/.installed

run: install  ## the default pipeline on the embedded digits data: train the sweep, write the report
	$(BIN)/kedro run
	@echo "Runs: data/07_model_output/runs/<run_name>/{history,meta,timing}.json, model.safetensors"
	@ls data/07_model_output/runs
	@echo "Report: data/08_reporting/report.md (figures in data/08_reporting/figures/)"

test: $(VENV)/.installed-mlflow
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: install  ## training throughput against baselines, folding speed-ups (docs/performance.md)
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/folding.py

bench-runners: install  ## the default sweep sequential, with ParallelRunner and DaskRunner, side by side
	$(BIN)/python benchmarks/sweep_runners.py

bench-gpu: install  ## CIFAR-10 ResNet-18 backbone from scratch: s/epoch and images/s against the device's bound
	$(BIN)/python benchmarks/gpu_train.py

# kedro-viz's server (kedro_viz.server.run_server, what `kedro viz run` runs) in make's own
# process: Ctrl-C, or a SIGTERM to make, stops it, and make returns once the port is free.
# `kedro viz run` starts it in a child process, which keeps serving when a signal reaches
# only the parent (an IDE's stop button, `kill <pid>`). Such a leftover is not named
# "kedro viz" (`pkill -f "kedro viz"` misses it): `fuser -k 4141/tcp`, or
# `kill $(lsof -ti tcp:4141)`.
VIZ_HOST ?= 127.0.0.1
VIZ_PORT ?= 4141
VIZ_SERVER = import logging; from kedro_viz.server import run_server; \
	logging.getLogger("uvicorn.error").setLevel("INFO"); \
	run_server(host="$(VIZ_HOST)", port=$(VIZ_PORT), project_path=".")

viz: install  ## the pipelines in kedro-viz at http://127.0.0.1:4141 (VIZ_PORT=...), until Ctrl-C
	$(BIN)/python -c '$(VIZ_SERVER)'

screenshots: install  ## docs/kedro-viz.png and docs/kedro-viz-run.png, with a headless Chromium
	$(BIN)/python docs/screenshots/shoot_viz.py

clean-data:  ## remove everything the pipelines wrote (MLflow's data/09_tracking stays)
	find data -type f ! -name .gitkeep ! -path 'data/09_tracking/*' -delete
	find data -mindepth 2 -type d -empty -delete
