"""Hooks: check every parameter before the first node runs."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from .errors import ConfigError, DataUnavailableError
from .pipelines.sweep_config import registered_specs
from .sweeps import fixed_specs, gated_specs, validate


class ValidateParamsHook:
    """Bad input or missing inputs stop the run here, with one line, before anything runs."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        params = catalog.load("parameters")
        validate(params)
        runtime = {s.key for s in fixed_specs(params.get("train_fixed"))}
        runtime |= {s.key for s in gated_specs(params.get("train_gated"))}
        registered = {s.key for s in registered_specs()}
        if runtime != registered:
            changed = sorted(runtime ^ registered)[0]
            raise ConfigError(
                f"the runs of a sweep are fixed when pipelines are registered, and this run's "
                f"params change them (e.g. {changed!r}): edit conf/*/parameters_train_*.yml, "
                f"or pick runs with --namespaces"
            )
        inputs = pipeline.inputs()
        missing = sorted(n for n in inputs if n.endswith(".model") and not catalog.exists(n))
        if missing:
            raise DataUnavailableError(
                f"no trained models in data/06_models/ for {len(missing)} runs to read: run the "
                "training pipelines first (kedro run), with the same --params"
            )
        if "model_input" in inputs and not catalog.exists("model_input"):
            raise DataUnavailableError(
                "no model_input in data/05_model_input/ for this data set: run the training "
                "pipelines first (kedro run), with the same --params"
            )
        if any(n.endswith(".activation_tables") for n in inputs) and not catalog.exists(
            "activation_tables"
        ):
            raise DataUnavailableError(
                "no activation statistics in data/07_model_output/runs/: run kedro run "
                "--pipeline=activation_analysis first, with the same --params"
            )
