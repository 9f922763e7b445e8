"""Nodes of robustness."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from ...measure.robustness import RobustnessConfig, attack_accuracy
from ...run.select import inputs_of, select_run, select_runs, sweep_runs
from ...run.store import RunStore
from ...run.train import load_model

log = logging.getLogger(__name__)


def attack_runs(
    store: RunStore,
    model_inputs: dict[str, Callable],
    params: dict[str, Any],
    select: str,
    *runs: str,
) -> dict[str, dict]:
    """Every selected stored run -> `{<run>/robustness: json}`.

    `runs`: the sweep's run names: only those; none: every selected run.
    """
    out = _attack(store, model_inputs, params, select_runs(store, select, among=sweep_runs(runs)))
    log.info("attacked %d runs", len(out))
    return out


def attack_run(
    store: RunStore,
    model_inputs: dict[str, Callable],
    params: dict[str, Any],
    select: str,
    run: str,
    pruned: list[str],
) -> dict[str, dict]:
    """`robustness.<key>`: the run its training node named ("": none) and the runs pruning
    made from it, those that `select` picks."""
    names = [n for r in [run, *pruned] for n in select_run(store, select, r)]
    return _attack(store, model_inputs, params, names) if names else {}


def _attack(
    store: RunStore, model_inputs: dict[str, Callable], params: dict[str, Any], names: list[str]
) -> dict[str, dict]:
    cfg = RobustnessConfig.from_params(params)
    out = {}
    for name, splits in inputs_of(store, names, model_inputs).items():
        result = attack_accuracy(load_model(store, name), splits, cfg)
        fingerprint = (store.meta(name) or {}).get("fingerprint")
        out[f"{name}/robustness"] = {"run_name": name, "fingerprint": fingerprint, **result}
    return out


def tabulate(findings: dict[str, Any]) -> pd.DataFrame:
    """Per data set, configuration and condition: accuracy over seeds and its paired change
    against the same-seed all-ReLU run, as findings.json has them (`reporting.robustness`)."""
    return pd.DataFrame(findings.get("robustness") or [])
