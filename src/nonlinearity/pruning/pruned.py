"""A pruned run: decide, linearise and remove, fine-tune, fold, measure, record.

The pruned run of `digits_mlp_fixed_0_s0_c1f3a9e` is `digits_mlp_pruned-fixed_0_s0_c<d>`,
where `d` fingerprints the source's name with the pruning and threshold settings: the
same settings, the same name, as for trained runs. Its fingerprint adds the source's
fingerprint and statistics, so the pruned run of a source retrained on other data takes
the old one's name and moves it to superseded/, instead of standing beside it.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..analysis import Thresholds
from ..data import Splits, to_device
from ..errors import ConfigError
from ..layers.apply import find_activation_sites, layer_stats
from ..measure.benchmark import MeasureConfig
from ..measure.efficiency import efficiency
from ..models import resolve_target
from ..params import parse
from ..run.history import linear_share
from ..run.record import COMPLETE, RunRecord, result_metrics, run_meta, split_timing
from ..training import TrainConfig, fit
from ..training.loop import evaluate_metrics
from .fold import fold_model
from .prune import PruneConfig, apply_decisions, decide

log = logging.getLogger(__name__)

FOLD_TOLERANCE = 1e-4  # max |folded - unfolded| over max |unfolded| on the test split


def _record(model: nn.Module, data, cfg: TrainConfig, stage: str) -> dict[str, Any]:
    m = evaluate_metrics(model, data.x_val, data.y_val, cfg.eval_batch_size, cfg.amp, data.topk)
    sites = layer_stats(model)
    return {
        "epoch": "post_prune",
        "phase": stage,
        "val_loss": m["loss"],
        "val_acc": m["acc"],
        **{f"val_{k}": v for k, v in m.items() if k.startswith("top")},
        "linear_ratio": linear_share(sites),
        "gating": sites,
    }


@torch.no_grad()
def fold_check(model: nn.Module, folded: nn.Module, x: torch.Tensor, batch: int) -> dict:
    """Largest difference of the logits over `x`, absolute and relative to the largest logit."""
    model.eval()
    folded.eval()
    diff, scale = 0.0, 0.0
    for i in range(0, len(x), batch):
        a, b = model(x[i : i + batch]), folded(x[i : i + batch])
        diff = max(diff, (a - b).abs().max().item())
        scale = max(scale, a.abs().max().item())
    rel = diff / scale if scale > 0 else diff
    return {
        "max_abs_diff": diff,
        "max_rel_diff": rel,
        "tolerance": FOLD_TOLERANCE,
        "exact": rel <= FOLD_TOLERANCE,
        "samples": len(x),
    }


def prune_and_fold(
    model: nn.Module,
    history: list[dict],
    meta: Mapping[str, Any],
    neurons: pd.DataFrame,
    splits: Splits,
    model_params: Mapping[str, Any],
    train_params: Mapping[str, Any],
    thresholds: Thresholds,
    cfg: PruneConfig,
    measure_params: Mapping[str, Any] | None = None,
    name: str = "",
    identity: Mapping[str, Any] | None = None,
) -> tuple[nn.Module, nn.Module | None, list[dict], dict, pd.DataFrame]:
    """Returns (pruned model, folded model or None, history, meta, decisions).

    `identity`: the new run's `fingerprint`, `settings` and `provenance` for its meta.
    """
    identity = dict(identity or {})
    train_cfg = TrainConfig.from_params(train_params)
    if cfg.lr is not None:
        train_cfg = replace(train_cfg, lr=float(cfg.lr))
    device = train_cfg.resolve_device()
    model = copy.deepcopy(model).to(device)
    data = to_device(splits, device)
    started = time.perf_counter()

    target = resolve_target(model, model_params.get("target", "all"))
    example = data.x_val[:2]
    targeted = {s.name for s in find_activation_sites(model, example, target)}
    decisions = decide(neurons.drop(columns="run", errors="ignore"), thresholds, cfg, targeted)
    records = [_record(model, data, train_cfg, "before_pruning")]
    done = apply_decisions(model, decisions, example)
    records.append({**_record(model, data, train_cfg, "pruned"), "layers": done})
    last = max((r["epoch"] for r in history if isinstance(r["epoch"], int)), default=0)
    if cfg.finetune_epochs:
        seed = int(meta.get("config", {}).get("seed", 0)) + 2
        records += fit(
            model,
            data,
            train_cfg,
            seed,
            epochs=cfg.finetune_epochs,
            first_epoch=last + 1,
            phase="finetune",
            label=name,
        )
    records.append(_record(model, data, train_cfg, "finetuned"))
    test = evaluate_metrics(
        model, data.x_test, data.y_test, train_cfg.eval_batch_size, train_cfg.amp, data.topk
    )
    train_time = time.perf_counter() - started
    log.info(
        "%s: val_acc %.4f before, %.4f pruned, %.4f fine-tuned; test_acc %.4f",
        name,
        records[0]["val_acc"],
        records[1]["val_acc"],
        records[-1]["val_acc"],
        test["acc"],
    )

    shape = splits.model_input_shape
    measure = parse(MeasureConfig, measure_params, "measure")
    latency_bs, min_time = measure.latency_batch_size, measure.min_run_time_s
    model.eval()
    try:
        folded = fold_model(model)
    except ConfigError as exc:
        folded, folding = None, {"supported": False, "reason": str(exc)}
        log.warning("%s: not folded: %s", name, exc)
    else:
        folding = {"supported": True, **fold_check(model, folded, data.x_test, 512)}
        if not folding["exact"]:
            raise AssertionError(f"{name}: folding changed the outputs: {folding}")
        folding["efficiency"] = efficiency(folded, shape, device, latency_bs, min_time)
    eff = efficiency(model, shape, device, latency_bs, min_time)

    source_cfg = dict(meta.get("config", {}))
    source_epochs = sum(isinstance(r["epoch"], int) for r in history)
    metrics = result_metrics(
        records[-1],
        test,
        records[-1]["linear_ratio"],
        train_time,
        val_acc_before_pruning=records[0]["val_acc"],
        val_acc_pruned=records[1]["val_acc"],
        source_test_acc=meta.get("metrics", {}).get("test_acc"),
    )
    config = {
        **source_cfg,  # the source's spec and settings: the pruned model is rebuilt from them
        "run_name": name,
        "approach": "pruning",
        "source_run": meta.get("run_name"),
        "source_approach": source_cfg.get("approach"),
        # fine-tuning on top of the source's epochs: that is what pruning is
        "epochs_budget": {
            "source": source_epochs,
            "finetune": cfg.finetune_epochs,
            "total": source_epochs + cfg.finetune_epochs,
        },
        "epochs_total": source_epochs + cfg.finetune_epochs,
        "pruning": {**cfg.settings(), "thresholds": asdict(thresholds)},
        "decisions": decisions["decision"].value_counts().to_dict(),
        "device": str(device),
    }
    identity = {**identity, "config": config}
    new_meta = run_meta(name, COMPLETE, metrics, identity, eff, folding=folding)
    decisions.insert(0, "run", name)
    out_folded = folded.cpu() if folded is not None else None
    return model.cpu(), out_folded, [*history, *records], new_meta, decisions


def pruned_identity(
    source_meta: Mapping[str, Any],
    thresholds: Thresholds,
    cfg: PruneConfig,
    neurons: pd.DataFrame | None = None,
):
    """(name, fingerprint) of the pruned run of a stored source run, decided by `neurons`
    (its activation statistics), the pruning settings and the thresholds."""
    from ..run.fingerprint import fingerprint
    from ..run.name import format_name, parse_name, pruned_key

    src = parse_name(source_meta["run_name"])
    settings = {
        "source": source_meta["run_name"],
        "pruning": cfg.settings(),
        "thresholds": asdict(thresholds),
    }
    fp = fingerprint(
        {
            **settings,
            "source": source_meta["fingerprint"],
            "statistics": None if neurons is None else fingerprint(neurons.to_csv(index=False)),
        }
    )
    cfg_src = source_meta["config"]
    model = cfg_src["model"].get("name", "mlp")
    name = format_name(cfg_src["dataset"], model, pruned_key(src.key), fingerprint(settings))
    return name, fp


def prune_run(
    store,
    source: str,
    splits: Splits,
    neurons: pd.DataFrame,
    thresholds: Thresholds,
    cfg: PruneConfig,
    measure_params: Mapping[str, Any] | None = None,
    rerun: bool = False,
):
    """The pruned run of the stored run `source`, as a record (skipped when stored)."""
    from ..run.fingerprint import provenance
    from ..run.train import FOLDED, load_model, module_state

    meta = store.meta(source)
    name, fp = pruned_identity(meta, thresholds, cfg, neurons)
    if not rerun and store.complete(name, fp):
        log.info("%s: skipped, its complete record has the same fingerprint", name)
        return RunRecord(name, [], {"fingerprint": fp}, skipped=True)
    identity = {
        "fingerprint": fp,
        "settings": meta.get("settings"),  # the source's: the runs they are compared with
        "provenance": {**(meta.get("provenance") or {}), **provenance()},
    }
    pruned, folded, history, new_meta, decisions = prune_and_fold(
        load_model(store, source),
        store.history(source),
        meta,
        neurons,
        splits,
        meta["config"]["model"],
        meta["config"]["training"],
        thresholds,
        cfg,
        measure_params,
        name,
        identity,
    )
    history, timing = split_timing(history)
    return RunRecord(
        name,
        history,
        new_meta,
        timing={"epochs": timing},
        weights=pruned.state_dict(),
        module_state=module_state(pruned),
        files={"pruning_decisions.csv": decisions.to_csv(index=False)},
        extra_weights={FOLDED: folded.state_dict()} if folded is not None else {},
    )
