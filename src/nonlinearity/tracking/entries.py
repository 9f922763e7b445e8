"""What a stored run becomes in MLflow, as plain values: params and metrics from its
meta.json, history.json and the benchmark's meta.json update (no MLflow here).

    params      the resolved settings (meta.json `settings`, flattened: `training.lr`), the
                fingerprint, and for a pruned run its pruning settings and source run
    metrics     each numeric field of each epoch record, step = epoch (`val_acc`, `lr`,
                `gating.act0.alpha_mean`); a special record's as `<epoch>.<field>`
                (`hardened.val_acc`) at the step of the epoch before it; the final metrics
                of meta.json (`test_acc`, `linear_ratio`, `nonlinear_units`,
                `total_params`); after the benchmark, latency (`latency_p50_s`: meta.json's
                batch size, `latency_p50_s.b1`: per batch size) and FLOPs (`flops_total`,
                `flops_linear`)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def run_params(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Every resolved setting, flattened, and the fingerprint (and what pruning adds)."""
    config = meta.get("config") or {}
    extra = {k: config[k] for k in ("pruning", "source_run") if config.get(k) is not None}
    return {
        **flatten(meta.get("settings") or {}),
        **flatten(extra),
        "fingerprint": meta.get("fingerprint"),
    }


def history_metrics(history: Iterable[Mapping[str, Any]]) -> list[tuple[dict[str, float], int]]:
    """[(metrics, step)] per epoch record: step = epoch; a special record's (`hardened`,
    `post_prune`) fields prefixed by its name, at the step of the epoch before it."""
    out, step = [], 0
    for record in history:
        epoch = record.get("epoch")
        special = not _is_int(epoch)
        step = step if special else epoch
        prefix = f"{epoch}." if special else ""
        out.append(({prefix + k: v for k, v in _numbers(record)}, step))
    return out


def final_metrics(meta: Mapping[str, Any]) -> dict[str, Any]:
    """meta.json's result (test metrics, linear share, train time) and costs known at training."""
    units = ("nonlinear_units", "activation_units", "nonlinear_evals_per_sample")
    return {
        **(meta.get("metrics") or {}),
        **{k: meta.get(k) for k in units},
        **(meta.get("param_counts") or {}),
    }


def benchmark_metrics(update: Mapping[str, Any]) -> dict[str, Any]:
    """Latency (meta.json's batch size, then per batch size) and FLOPs from the benchmark."""
    latency, bench = update.get("latency") or {}, update.get("benchmark") or {}
    out = {f"latency_{q}_s": latency.get(f"{q}_latency_s") for q in ("p50", "p90", "mean")}
    out["samples_per_second"] = latency.get("samples_per_second")
    for bs, rec in (latency.get("by_batch_size") or {}).items():
        out |= {f"latency_{q}_s.b{bs}": rec.get(f"{q}_latency_s") for q in ("p50", "p90")}
        out[f"samples_per_second.b{bs}"] = rec.get("samples_per_second")
    keys = ("flops_total", "flops_linear", "train_samples_per_second")
    return out | {k: bench.get(k) for k in keys}


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"training": {"lr": 0.001}} -> {"training.lr": 0.001}; lists stay values."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _numbers(record: Mapping[str, Any]) -> Iterable[tuple[str, float]]:
    """A history record's numeric fields, and each gated layer's mean gate."""
    for key, value in record.items():
        if key != "epoch" and is_number(value):
            yield key, value
    for layer in record.get("gating") or []:
        if isinstance(layer, Mapping) and is_number(layer.get("alpha_mean")):
            yield f"gating.{layer.get('name', layer.get('layer'))}.alpha_mean", layer["alpha_mean"]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
