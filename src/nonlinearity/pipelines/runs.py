"""One run as one namespaced node, shared by train_fixed and train_gated.

Each run's node is `<key>.train`, with outputs `<key>.model` and `<key>.artifacts`
(dataset factories in catalog.yml write them under the run's full name), so a
parallel runner can spread runs over workers and `--namespaces` picks runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Pipeline, node

from ..data import Splits
from ..errors import DataUnavailableError
from ..experiment import RunSpec, parse_schedule, run_experiment

SHARED_PARAMS = {"params:model", "params:training", "params:measure"}


def train_run(
    splits: Splits,
    model_params: dict[str, Any],
    train_params: dict[str, Any],
    measure_params: dict[str, Any],
    approach_params: dict[str, Any] | None = None,
    *,
    spec: RunSpec,
) -> tuple[dict, dict]:
    """Train and measure one run.

    `approach_params` is the gate variant (gating) or the layerwise section (layerwise).
    Returns `{run_name: () -> model}` and `{"<run_name>/history": [...], "<run_name>/meta": {...}}`.
    """
    gate_params = None
    if spec.approach == "gating":
        gate_params = approach_params
    elif spec.approach == "layerwise":
        schedule = approach_params["schedules"][spec.schedule_name]
        spec = replace(
            spec,
            schedule=parse_schedule(schedule, spec.schedule_name),
            ratio=float(approach_params.get("default_ratio", 0.0)),
            pattern=approach_params.get("pattern", "random"),
        )
    model, history, meta = run_experiment(
        splits, model_params, train_params, spec, gate_params, measure_params
    )
    name = meta["run_name"]
    # PartitionedDataset calls callable values to get the data; a module is callable.
    return {name: lambda: model}, {f"{name}/history": history, f"{name}/meta": meta}


TRAIN_FIRST = (
    "train it first (kedro run --pipeline=train_fixed or train_gated, with the same --params)"
)


def load_partition(
    partitions: dict[str, Callable], key: str, what: str, how: str = TRAIN_FIRST
) -> Any:
    """One partition of a PartitionedDataset, or one line saying how to make it."""
    if key not in partitions:
        run = key.split("/", maxsplit=1)[0]
        raise DataUnavailableError(f"no {what} for run {run!r}: {how}")
    return partitions[key]()


def bind(func, **kwargs):
    """`partial` that keeps the function's name and docstring, for node functions."""
    return update_wrapper(partial(func, **kwargs), func)


def run_pipeline(spec: RunSpec) -> Pipeline:
    inputs = ["model_input", "params:model", "params:training", "params:measure"]
    params = set(SHARED_PARAMS)
    if spec.approach == "gating":
        params.add(f"params:train_gated.variants.{spec.variant}")
    elif spec.approach == "layerwise":
        params.add("params:train_fixed.layerwise")
    inputs += sorted(params - SHARED_PARAMS)
    return Pipeline(
        [
            node(
                bind(train_run, spec=spec),
                inputs=inputs,
                outputs=["model", "artifacts"],
                name="train",
            )
        ],
        namespace=spec.key,
        inputs={"model_input"},
        parameters=params,
    )


def sweep_pipeline(specs: list[RunSpec]) -> Pipeline:
    return sum((run_pipeline(s) for s in specs), Pipeline([]))


def per_run(
    func,
    inputs: list[str],
    outputs: list[str],
    name: str,
    params: list[str],
    specs: list[RunSpec],
    free_inputs: tuple[str, ...] = (),
    outputs_for=None,
) -> Pipeline:
    """One node per run of the sweep, namespaced by the run's key (`<key>.<name>`).

    Inputs and outputs named here are the run's own (`<key>.model`, ...), except
    `free_inputs` and params; `outputs_for(spec)` maps outputs that others read.
    """
    return sum(
        (
            Pipeline(
                [node(bind(func, spec=s), inputs=[*inputs, *params], outputs=outputs, name=name)],
                namespace=s.key,
                inputs=set(free_inputs),
                parameters=set(params),
                outputs=outputs_for(s) if outputs_for else None,
            )
            for s in specs
        ),
        Pipeline([]),
    )
