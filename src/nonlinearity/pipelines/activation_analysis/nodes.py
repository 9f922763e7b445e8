"""Nodes of activation_analysis."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...analysis import AnalysisConfig, analyse
from ...errors import DataUnavailableError
from ...run.select import matching_input, select_runs
from ...run.store import RunStore
from ...run.train import load_model

log = logging.getLogger(__name__)

REBUILD_INPUT = (
    "their model input in data/05_model_input/ was made by other settings or is gone: "
    "run data_prep with the settings they trained with"
)


def inputs_of(
    store: RunStore, names: list[str], model_inputs: dict[str, Callable]
) -> dict[str, Any]:
    """Each run's model input, checked before any work; runs without theirs are named."""
    cache: dict[tuple[str, str], Any] = {}
    found, missing = {}, []
    for name in names:
        meta = store.meta(name) or {}
        key = (meta["config"]["dataset"], (meta.get("provenance") or {}).get("model_input"))
        if key not in cache:
            cache[key] = matching_input(store, name, model_inputs)
        if cache[key] is None:
            missing.append(name)
        else:
            found[name] = cache[key]
    if missing:
        log.warning("%d runs left out, %s: %s", len(missing), REBUILD_INPUT, ", ".join(missing))
    if not found:
        raise DataUnavailableError(
            f"none of the {len(names)} selected runs can be read: {REBUILD_INPUT}"
        )
    return found


def analyse_runs(
    store: RunStore, model_inputs: dict[str, Callable], params: dict[str, Any], select: str
) -> tuple[dict, dict]:
    """Every selected stored run -> `{<run>/activation_stats: json}`, `{<run>/activation_*: df}`."""
    cfg = AnalysisConfig.from_params(params)
    inputs = inputs_of(store, select_runs(store, select), model_inputs)
    stats_out, tables_out = {}, {}
    for name, splits in inputs.items():
        neurons, layers, stats = analyse(load_model(store, name), splits, cfg, name)
        stats_out[f"{name}/activation_stats"] = stats
        tables_out[f"{name}/activation_neurons"] = neurons
        tables_out[f"{name}/activation_layers"] = layers
    log.info("analysed %d runs", len(inputs))
    return stats_out, tables_out
