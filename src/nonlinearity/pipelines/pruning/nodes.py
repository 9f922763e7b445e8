"""Nodes of pruning."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...analysis import AnalysisConfig
from ...errors import DataUnavailableError
from ...pruning import PruneConfig, prune_run
from ...run.name import parse_name
from ...run.select import inputs_of, select_run, select_runs, sweep_runs
from ...run.store import RunStore

log = logging.getLogger(__name__)

ANALYSE_FIRST = "run kedro run --pipelines=activation_analysis first"
TRAINED = ("fixed", "layerwise", "gating", "matched")  # approaches of runs that can be pruned


def prune_runs(
    store: RunStore,
    model_inputs: dict[str, Callable],
    tables: dict[str, Callable],
    params: dict[str, Any],
    analysis_params: dict[str, Any],
    measure_params: dict[str, Any],
    select: str,
    rerun: bool,
    *runs: str,
) -> list[str]:
    """Every selected trained (not pruned) run whose key `pruning.sources` names, with
    statistics -> its pruned run, stored as soon as it is done (a kill keeps the finished
    ones); returns their names. `runs`: the sweep's run names: only those.
    """
    cfg = PruneConfig.from_params(params)
    trained = select_runs(store, select, TRAINED, among=sweep_runs(runs))
    names = [n for n in trained if cfg.prunes(parse_name(n).key)]
    if not names:
        raise DataUnavailableError(
            f"none of the {len(trained)} selected runs is a source of pruning "
            f"(pruning.sources {cfg.sources}): {', '.join(trained)}"
        )
    return _prune(store, model_inputs, tables, names, cfg, analysis_params, measure_params, rerun)


def prune_if_source(
    store: RunStore,
    model_inputs: dict[str, Callable],
    tables: dict[str, Callable],
    params: dict[str, Any],
    analysis_params: dict[str, Any],
    measure_params: dict[str, Any],
    select: str,
    rerun: bool,
    run: str,
) -> list[str]:
    """`pruning.<key>`: the run its training node named, when `select` picks it and
    `pruning.sources` names its key -> [its pruned run]; [] otherwise."""
    cfg = PruneConfig.from_params(params)
    if not run or not cfg.prunes(parse_name(run).key):
        return []
    names = select_run(store, select, run, TRAINED)
    if not names:
        return []
    return _prune(store, model_inputs, tables, names, cfg, analysis_params, measure_params, rerun)


def sweep_pruned(params: dict[str, Any], *pruned: list[str]) -> list[str]:
    """The `pruning.<key>` nodes. pruned runs, in one list (`pruned_runs`)."""
    names = [name for runs in pruned for name in runs]
    if not names:
        raise DataUnavailableError(
            "no run of this sweep was pruned: pruning.sources "
            f"{PruneConfig.from_params(params).sources} names none of its trained runs"
        )
    return names


def _prune(
    store: RunStore,
    model_inputs: dict[str, Callable],
    tables: dict[str, Callable],
    names: list[str],
    cfg: PruneConfig,
    analysis_params: dict[str, Any],
    measure_params: dict[str, Any],
    rerun: bool,
) -> list[str]:
    thresholds = AnalysisConfig.from_params(analysis_params).thresholds
    analysed = [n for n in names if f"{n}/activation_neurons" in tables]
    if len(analysed) < len(names):
        unanalysed = sorted(set(names) - set(analysed))
        log.warning(
            "%d runs have no statistics (%s): %s",
            len(unanalysed),
            ANALYSE_FIRST,
            ", ".join(unanalysed),
        )
    if not analysed:
        raise DataUnavailableError(
            f"no activation statistics for the selected runs: {ANALYSE_FIRST}"
        )
    done = []
    for name, splits in inputs_of(store, analysed, model_inputs).items():
        neurons = tables[f"{name}/activation_neurons"]()
        record = prune_run(store, name, splits, neurons, thresholds, cfg, measure_params, rerun)
        store.save(record)
        done.append(record.name)
    return done
