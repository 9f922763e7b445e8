"""Analyse one trained run on a sample of its data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import pandas as pd
from torch import nn

from ..data import Splits, to_device
from ..device import check_device, resolve_device
from ..errors import ConfigError, check_settings
from .stats import Thresholds, activation_stats, layer_table, stats_json

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class AnalysisConfig:
    split: str = "val"  # where the statistics come from
    samples: int = 2048  # the first samples of that split (splits are shuffled, stratified)
    batch_size: int = 256
    device: str = "auto"
    thresholds: Thresholds = Thresholds()

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> AnalysisConfig:
        p = check_settings(params, cls.__dataclass_fields__, "activation_analysis")
        split = p.get("split", "val")
        if split not in SPLITS:
            raise ConfigError(
                f"activation_analysis.split {split!r} is unknown; valid: {', '.join(SPLITS)}"
            )
        for key in ("samples", "batch_size"):
            v = p.get(key, getattr(cls, key))
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ConfigError(
                    f"activation_analysis.{key} = {v!r} is invalid: must be a positive integer"
                )
        check_device(p.get("device", "auto"), "activation_analysis.device")
        return cls(
            split,
            int(p.get("samples", cls.samples)),
            int(p.get("batch_size", cls.batch_size)),
            p.get("device", "auto"),
            Thresholds.from_params(p.get("thresholds"), "activation_analysis.thresholds"),
        )


def analyse(
    model: nn.Module, splits: Splits, cfg: AnalysisConfig, run_name: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(per-neuron table, per-layer table, activation_stats.json) of one run."""
    device = resolve_device(cfg.device)
    x = getattr(splits, f"x_{cfg.split}")[: cfg.samples]
    none = {f"{a}_{s}": t[:0] for s in ("val", "test") for a, t in (("x", x), ("y", splits.y_val))}
    sample = replace(splits, x_train=x, y_train=splits.y_train[: len(x)], **none)
    x = to_device(sample, device, augment=False).x_train  # normalised as in training
    neurons = activation_stats(model.to(device), x, cfg.batch_size)
    layers = layer_table(neurons, cfg.thresholds)
    neurons.insert(0, "run", run_name)
    layers.insert(0, "run", run_name)
    meta = {
        "run_name": run_name,
        "split": cfg.split,
        "samples": len(x),
        "input": splits.kind,
        "thresholds": asdict(cfg.thresholds),
    }
    return neurons, layers, stats_json(layers.drop(columns="run"), meta)
