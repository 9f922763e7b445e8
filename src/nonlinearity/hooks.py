"""Hooks: check every parameter and input before the first node runs; say what the sweep did."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from kedro.framework.hooks import hook_impl

from .errors import ConfigError, DataUnavailableError, NonlinearityError
from .pipelines.sweep_config import registered_specs
from .run.spec import sweep_specs
from .run.validate import collapsed_runs, validate

log = logging.getLogger(__name__)


class RunsFailedError(NonlinearityError):
    """Some runs of the sweep diverged; the others completed."""


def _records(pipeline: Any) -> list[str]:
    """The runs' record datasets that the pipeline writes (`<key>.record`), one per run."""
    return sorted(o for o in pipeline.all_outputs() if o.endswith(".record"))


class ValidateParamsHook:
    """Bad input or missing inputs stop the run here, with one line, before anything runs.

    Layer-wise runs that are a fixed ratio on this model get one warning line: their
    nodes will not train them (`run.validate.Collapsed`).
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        params = catalog.load("parameters")
        validate(params)
        runtime = {s.key for s in sweep_specs(params)}
        registered = {s.key for s in registered_specs()}
        if runtime != registered:
            changed = sorted(runtime ^ registered)[0]
            raise ConfigError(
                f"the runs of a sweep are fixed when pipelines are registered, and this run's "
                f"params change them (e.g. {changed!r}): edit conf/*/parameters_train_*.yml, "
                f"or pick runs with --namespaces"
            )
        records, collapsed = _records(pipeline), collapsed_runs(params)
        if any(f"{k}.record" in records for k in collapsed.runs):
            log.warning("%s", collapsed.warning())
        inputs = pipeline.inputs()
        if "params:select" in inputs and not records:  # later pipelines alone: runs exist
            from .run.select import select_runs

            select_runs(catalog.load("run_store"), params.get("select", "*"))
        if "model_input" in inputs:
            if not catalog.exists("model_input"):
                raise DataUnavailableError(
                    "no model_input in data/05_model_input/ for this data set: run the training "
                    "pipelines first (kedro run), with the same --params"
                )
            from .data.prepare import check_model_input

            dataset = catalog.get("model_input")  # what made it, without loading its tensors
            made = dataset.describe() if hasattr(dataset, "describe") else dataset.load()
            check_model_input(made, params.get("model") or {}, params.get("data") or {})
        if "activation_tables" in inputs and not catalog.exists("activation_tables"):
            raise DataUnavailableError(
                "no activation statistics in data/07_model_output/runs/: run kedro run "
                "--pipeline=activation_analysis first"
            )


def _completed(meta: dict) -> float:
    try:
        return datetime.fromisoformat(meta["completed_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


class SweepSummaryHook:
    """After a run: how many runs trained, were skipped, failed or were not trained (a
    layer-wise schedule that is a fixed ratio on this model); failures end non-zero."""

    def __init__(self) -> None:
        self._started = 0.0

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._started = time.time()

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        records = _records(pipeline)
        if not records:
            return
        store = catalog.load("run_store")
        collapsed = collapsed_runs(catalog.load("parameters")).runs
        trained, skipped, failed, refused = [], [], [], []
        for dataset in records:  # one per run of the pipeline; its names, of any settings
            if dataset.removesuffix(".record") in collapsed:
                refused.append(dataset)
                continue
            new = [(n, store.meta(n) or {}) for n in catalog.load(dataset)]
            new = [(n, m) for n, m in new if _completed(m) >= self._started]
            if not new:
                skipped.append(dataset)
            for name, meta in new:
                if meta.get("status") == "failed":
                    why = str(meta.get("error", "failed")).removeprefix(f"{name}: ")
                    failed.append(f"{name} ({why})")
                else:
                    trained.append(name)
        log.info(
            "%d runs: %d trained, %d skipped (complete record, same fingerprint; "
            "--params=rerun=true trains them again), %d failed%s",
            len(trained) + len(skipped) + len(failed) + len(refused),
            len(trained),
            len(skipped),
            len(failed),
            f", {len(refused)} not trained (layer-wise runs that are fixed runs on this model)"
            if refused
            else "",
        )
        if failed:
            raise RunsFailedError(
                f"{len(failed)} of {len(records)} runs failed: {'; '.join(failed)}"
            )
