"""Analyse one trained run on a sample of its data.

activation_stats.json says how representative the sample is: its size and class
counts, and the size and class counts of the whole split it was drawn from (the
first `samples` of a shuffled, stratified split).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import pandas as pd
import torch
from torch import nn

from ..data import Splits, to_device
from ..device import check_device, resolve_device
from ..params import parse, setting
from .stats import Thresholds, activation_stats, layer_table, stats_json


@dataclass(frozen=True)
class AnalysisConfig:
    """`activation_analysis`: where the statistics come from and how they are judged."""

    split: Literal["train", "val", "test"] = "val"  # where the statistics come from
    samples: int = setting(2048, ge=1)  # the first samples of that split (shuffled, stratified)
    batch_size: int = setting(256, ge=1)  # samples per forward pass
    device: str = setting("auto", check=check_device)  # auto | cpu | cuda | cuda:N | mps
    thresholds: Thresholds = Thresholds()  # linear and dead rules (guide §10)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> AnalysisConfig:
        return parse(cls, params, "activation_analysis")


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
    split = getattr(splits, f"y_{cfg.split}")  # (N,) class indices
    meta = {
        "run_name": run_name,
        "split": cfg.split,
        "samples": len(x),
        "sample_class_counts": class_counts(split[: len(x)], splits.num_classes),
        "split_samples": len(split),
        "split_class_counts": class_counts(split, splits.num_classes),
        "input": splits.kind,
        "thresholds": asdict(cfg.thresholds),
    }
    return neurons, layers, stats_json(layers.drop(columns="run"), meta)


def class_counts(y: torch.Tensor, num_classes: int) -> dict[str, int]:
    """Class index (a JSON key) -> its samples, every class listed."""
    counts = torch.bincount(y.long().cpu(), minlength=num_classes).tolist()
    return {str(c): n for c, n in enumerate(counts)}
