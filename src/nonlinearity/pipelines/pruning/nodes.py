"""Nodes of pruning."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...analysis import AnalysisConfig
from ...errors import DataUnavailableError
from ...pruning import PruneConfig, prune_run
from ...run.name import parse_name
from ...run.select import inputs_of, select_runs, sweep_runs
from ...run.store import RunStore

log = logging.getLogger(__name__)

ANALYSE_FIRST = "run kedro run --pipeline=activation_analysis first"
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
    ones); returns their names. `runs`: the sweep's run names (`__default__`): only those.
    """
    cfg = PruneConfig.from_params(params)
    thresholds = AnalysisConfig.from_params(analysis_params).thresholds
    trained = select_runs(store, select, TRAINED, among=sweep_runs(runs))
    names = [n for n in trained if cfg.prunes(parse_name(n).key)]
    if not names:
        raise DataUnavailableError(
            f"none of the {len(trained)} selected runs is a source of pruning "
            f"(pruning.sources {cfg.sources}): {', '.join(trained)}"
        )
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
    inputs = inputs_of(store, analysed, model_inputs)
    done = []
    for name, splits in inputs.items():
        neurons = tables[f"{name}/activation_neurons"]()
        record = prune_run(store, name, splits, neurons, thresholds, cfg, measure_params, rerun)
        store.save(record)
        done.append(record.name)
    return done
