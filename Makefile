# Two commands do all the set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: install run test lint bench bench-runners bench-gpu viz clean-data

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

viz: install  ## the pipelines in kedro-viz at http://127.0.0.1:4141
	$(BIN)/kedro viz run --no-browser --host 127.0.0.1 --port 4141

clean-data:  ## remove everything the pipelines wrote (MLflow's data/09_tracking stays)
	find data -type f ! -name .gitkeep ! -path 'data/09_tracking/*' -delete
	find data -mindepth 2 -type d -empty -delete
