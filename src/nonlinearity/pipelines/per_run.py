"""One node per run of the sweep, namespaced by the run's key.

A training run is the node `<key>.train`: model input and params in, the run's
record out (`<key>.record`, written atomically into the run store) and its name
(`<key>.run_name`, in memory: which stored run the later pipelines of `__default__`
act on; "" for a run not trained), so a parallel runner can spread runs over
workers and `--namespaces` picks runs. The node gets the store (`run_store`) to skip
runs already complete and resume interrupted ones. A matched run's node also reads
its gated run's record, so it runs after it.
"""

from __future__ import annotations

import warnings
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Pipeline, node

from ..data import Splits
from ..run.matched import train_matched
from ..run.record import RunRecord
from ..run.spec import RunSpec, resolve_spec
from ..run.store import RunStore
from ..run.train import train_run

SHARED_PARAMS = ["params:data", "params:model", "params:training", "params:measure", "params:rerun"]


def train(
    splits: Splits,
    store: RunStore,
    data_params: dict[str, Any],
    model_params: dict[str, Any],
    train_params: dict[str, Any],
    measure_params: dict[str, Any],
    rerun: bool,
    approach_params: dict[str, Any] | None = None,
    *,
    spec: RunSpec,
) -> tuple[RunRecord, str]:
    """Train and measure one run (or skip it: a complete record with its fingerprint exists)
    -> (its record, its name; "" when it is not trained).

    `approach_params` is the gate variant (gating) or the layerwise section (layerwise).
    """
    gate_params = approach_params if spec.approach == "gating" else None
    if spec.approach == "layerwise":
        spec = resolve_spec(spec, approach_params)
    record = train_run(
        splits,
        model_params,
        train_params,
        spec,
        gate_params,
        measure_params,
        data_params,
        store,
        bool(rerun),
    )
    return record, _name(record)


def matched(
    splits: Splits,
    store: RunStore,
    data_params: dict[str, Any],
    model_params: dict[str, Any],
    train_params: dict[str, Any],
    measure_params: dict[str, Any],
    rerun: bool,
    gate_params: dict[str, Any],
    gated_runs: list[str],
    *,
    spec: RunSpec,
) -> tuple[RunRecord, str]:
    """The matched run of a gated run (`run/matched.py`) -> (its record, its name).

    `gated_runs` (the gated run's record) only orders this node after the gated run's.
    """
    record = train_matched(
        splits,
        model_params,
        train_params,
        spec,
        gate_params,
        measure_params,
        data_params,
        store,
        bool(rerun),
    )
    return record, _name(record)


def _name(record: RunRecord) -> str:
    return "" if record.not_trained else record.name


def bind(func, **kwargs):
    """`partial` that keeps the function's name and docstring, for node functions."""
    return update_wrapper(partial(func, **kwargs), func)


# Kedro 1.7 says a node "is made from a 'partial' function" with no `__name__` in the
# ParallelRunner's workers, although `bind`'s partials carry their function's name there.
warnings.filterwarnings(
    "ignore", message="The node producing outputs .* is made from a 'partial' function"
)


def run_pipeline(spec: RunSpec) -> Pipeline:
    inputs = ["model_input", "run_store", *SHARED_PARAMS]
    shared = {"model_input", "run_store"}
    if spec.approach in ("gating", "matched"):
        inputs.append(f"params:train_gated.variants.{spec.variant}")
    elif spec.approach == "layerwise":
        inputs.append("params:train_fixed.layerwise")
    if spec.approach == "matched":
        inputs.append(f"{spec.source_key}.record")
        shared.add(f"{spec.source_key}.record")
    func = matched if spec.approach == "matched" else train
    return Pipeline(
        [node(bind(func, spec=spec), inputs, ["record", "run_name"], name="train")],
        namespace=spec.key,
        inputs=shared,
        parameters={i for i in inputs if i.startswith("params:")},
    )


def sweep_pipeline(specs: list[RunSpec]) -> Pipeline:
    return sum((run_pipeline(s) for s in specs), Pipeline([]))
