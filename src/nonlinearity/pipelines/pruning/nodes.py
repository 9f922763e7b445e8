"""Nodes of pruning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...analysis import AnalysisConfig
from ...data import Splits
from ...experiment import RunSpec, run_name
from ...pruning import PruneConfig, prune_and_fold, pruned_run_name
from ..runs import load_partition

ANALYSE_FIRST = "run kedro run --pipeline=activation_analysis first, with the same --params"


def prune_run(
    models: dict[str, Callable],
    artifacts: dict[str, Callable],
    tables: dict[str, Callable],
    model_input: Splits,
    dataset: str,
    model_params: dict[str, Any],
    train_params: dict[str, Any],
    measure_params: dict[str, Any],
    analysis_params: dict[str, Any],
    params: dict[str, Any],
    *,
    spec: RunSpec,
) -> tuple[dict, dict, dict, dict]:
    """A trained run and its statistics -> the pruned run (model, folded model, files)."""
    source = run_name(dataset, model_params.get("name", "mlp"), spec)
    model = load_partition(models, source, "trained model")
    history = load_partition(artifacts, f"{source}/history", "history.json")
    meta = load_partition(artifacts, f"{source}/meta", "meta.json")
    neurons = load_partition(
        tables, f"{source}/activation_neurons", "activation statistics", ANALYSE_FIRST
    )
    name = pruned_run_name(source, spec.key)
    pruned, folded, history, meta, decisions = prune_and_fold(
        model,
        history,
        meta,
        neurons,
        model_input,
        model_params,
        train_params,
        AnalysisConfig.from_params(analysis_params).thresholds,
        PruneConfig.from_params(params),
        measure_params,
        name,
    )
    # PartitionedDataset calls callable values to get the data; a module is callable.
    return (
        {name: lambda: pruned},
        {name: lambda: folded} if folded is not None else {},
        {f"{name}/history": history, f"{name}/meta": meta},
        {f"{name}/pruning_decisions": decisions},
    )
