"""Nodes of activation_analysis."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...analysis import AnalysisConfig, analyse
from ...run.select import inputs_of, select_run, select_runs, sweep_runs
from ...run.store import RunStore
from ...run.train import load_model

log = logging.getLogger(__name__)


def analyse_runs(
    store: RunStore,
    model_inputs: dict[str, Callable],
    params: dict[str, Any],
    select: str,
    *runs: str,
) -> tuple[dict, dict]:
    """Every selected stored run -> `{<run>/activation_stats: json}`, `{<run>/activation_*: df}`.

    `runs`: the sweep's run names (`__default__`): only those; none: every selected run.
    """
    names = select_runs(store, select, among=sweep_runs(runs))
    stats, tables = _analyse(store, model_inputs, params, names)
    log.info("analysed %d runs", len(stats))
    return stats, tables


def analyse_run(
    store: RunStore,
    model_inputs: dict[str, Callable],
    params: dict[str, Any],
    select: str,
    run: str,
) -> tuple[dict, dict]:
    """`analysis.<key>`: the run its training node named ("": none), if `select` picks it."""
    return _analyse(store, model_inputs, params, select_run(store, select, run))


def _analyse(
    store: RunStore,
    model_inputs: dict[str, Callable],
    params: dict[str, Any],
    names: list[str],
) -> tuple[dict, dict]:
    cfg = AnalysisConfig.from_params(params)
    stats_out, tables_out = {}, {}
    for name, splits in inputs_of(store, names, model_inputs).items():
        neurons, layers, stats = analyse(load_model(store, name), splits, cfg, name)
        stats_out[f"{name}/activation_stats"] = stats
        tables_out[f"{name}/activation_neurons"] = neurons
        tables_out[f"{name}/activation_layers"] = layers
    return stats_out, tables_out
