"""Gating against fixed at the same effective linear share (guide Task 6).

    ratio_i = k_i / C_i    k_i: linear neurons of the gated run's hardened layer i

A matched run is a fixed, random-pattern run of its gated run's seed whose layer i
has exactly the gated run's hardened share of linear neurons (read from the stored
gated run's final masks, which hardening fixed), trained for `training.epochs` like
any fixed run. Whether the gates chose *which* neurons well is then the difference
between the two. Its settings hold the gated run's name and fingerprint, so a gated
run trained again makes a new matched run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from torch import nn

from ..data import Splits
from ..errors import DataUnavailableError
from ..layers import GatedActivation
from ..layers.apply import find_activation_sites
from ..training import GateConfig, TrainConfig, epochs_budget
from .record import FAILED, RunRecord
from .spec import RunSpec
from .store import RunStore
from .train import (
    RunId,
    approach_fields,
    example_input,
    failed_record,
    identify,
    load_model,
    train_run,
)

log = logging.getLogger(__name__)


def hardened_shares(model: nn.Module, example: Any) -> dict[int, float]:
    """Layer index (order of first call) -> share of its neurons a hardened gate made linear."""
    sites = find_activation_sites(model, example)
    gates = [s.module for s in sites if isinstance(s.module, GatedActivation)]
    if not gates or not all(g.hardened for g in gates):
        raise ValueError("a matched run needs a gated model whose gates are all hardened")
    return {i: (g.num_features - g.n_nonlinear) / g.num_features for i, g in enumerate(gates)}


def gated_source(
    splits: Splits,
    model_params: Mapping[str, Any],
    train_params: Mapping[str, Any],
    spec: RunSpec,
    gate_params: Mapping[str, Any] | None,
    data_params: Mapping[str, Any] | None,
) -> RunId:
    """Who the matched run's gated run is under these settings (its name and fingerprint)."""
    gated = replace(spec, approach="gating", schedule={})
    gates = GateConfig.from_params(gate_params, f"train_gated.variants.{spec.variant}")
    cfg = TrainConfig.from_params(train_params)
    return identify(splits, model_params, data_params, cfg, gated, gates)


def train_matched(
    splits: Splits,
    model_params: Mapping[str, Any],
    train_params: Mapping[str, Any],
    spec: RunSpec,
    gate_params: Mapping[str, Any] | None,
    measure_params: Mapping[str, Any] | None,
    data_params: Mapping[str, Any] | None,
    store: RunStore,
    rerun: bool = False,
) -> RunRecord:
    """The matched run of `spec` (approach `matched`) at its stored gated run's shares.

    A gated run that failed makes this one fail too (a record saying why); one not
    stored stops the pipeline with what to run first.
    """
    gated = gated_source(splits, model_params, train_params, spec, gate_params, data_params)
    source = {"run": gated.name, "fingerprint": gated.fingerprint}
    if not store.complete(gated.name, gated.fingerprint):
        meta = store.meta(gated.name) or {}
        if meta.get("fingerprint") != gated.fingerprint or meta.get("status") != FAILED:
            raise DataUnavailableError(
                f"{spec.key} needs its gated run {gated.name}, which is not stored: train it "
                f"first (kedro run --namespaces={spec.source_key},{spec.key})"
            )
        return _source_failed(spec, gated, source, splits, model_params, train_params, data_params)
    kind = "image" if splits.kind == "features" else splits.kind
    example = example_input(kind, splits.model_input_shape)
    shares = hardened_shares(load_model(store, gated.name), example)
    matched = replace(spec, pattern="random", ratio=0.0, schedule=shares)
    return train_run(
        splits,
        model_params,
        train_params,
        matched,
        None,
        measure_params,
        data_params,
        store,
        rerun,
        source=source,
    )


def _source_failed(spec, gated, source, splits, model_params, train_params, data_params):
    """The record of a matched run whose gated run failed: failed too, nothing trained."""
    cfg = TrainConfig.from_params(train_params)
    run = identify(splits, model_params, data_params, cfg, spec, None, source)
    error = f"{run.name}: its gated run {gated.name} failed"
    log.error("%s", error)
    fields = approach_fields(spec, epochs_budget(cfg.epochs, None), None, source, None)
    return failed_record(run, spec, splits, error, [], cfg, None, cfg.resolve_device(), fields)
