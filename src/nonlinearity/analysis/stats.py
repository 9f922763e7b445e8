"""Per-neuron statistics of every activation's input, over a sample of the data.

For each activation site (mixed, gated or plain; per channel for conv, per unit for
dense and transformer FFN layers) and each neuron, over all evaluations `z`:

    positive_frac   = P(z > 0)
    negative_frac   = P(z < 0)
    nonlinear_score = sum |f(z) - z| / sum |z|   (share of the input's magnitude that
                      the nonlinearity f changes; for ReLU the negative share)
    pre_mean, pre_std of z

`f` is the site's own nonlinearity, whether or not the neuron currently applies it,
so a linearised neuron still shows what its nonlinearity would do. Token inputs
count real tokens only (`input_ids != pad_token_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import ConfigError
from ..layers.apply import find_activation_sites, plain
from ..layers.mixed import MaskedActivation
from ..params import parse, setting

NEURON_COLUMNS = (
    "layer_idx",
    "layer",
    "neuron",
    "positive_frac",
    "negative_frac",
    "nonlinear_score",
    "pre_mean",
    "pre_std",
    "pre_abs_mean",
    "alpha",
    "evaluations",
)


@dataclass(frozen=True)
class Thresholds:
    """Guide §10: linear when rarely clipped and barely changed; dead when almost never on."""

    positive_frac: float = setting(0.95, ge=0, le=1)  # linear if positive_frac > this ...
    nonlinear_score: float = setting(0.05, ge=0, le=1)  # ... and nonlinear_score < this
    negative_frac: float = setting(0.95, ge=0, le=1)  # dead if negative_frac > this
    influential: float = setting(0.2, ge=0, le=1)  # nonlinear_score above: influential

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any] | None, prefix: str = "thresholds"
    ) -> Thresholds:
        return parse(cls, params, prefix)

    def linear(self, pos: Any, score: Any) -> Any:
        return (pos > self.positive_frac) & (score < self.nonlinear_score)

    def dead(self, neg: Any) -> Any:
        return neg > self.negative_frac


class _Accumulator:
    """Float64 running sums per neuron, on the model's device."""

    def __init__(self, features: int, device: torch.device) -> None:
        z = dict(dtype=torch.float64, device=device)
        self.sums = torch.zeros(7, features, **z)  # n, pos, neg, z, z^2, |z|, |f(z) - z|

    def add(self, z: torch.Tensor, fz: torch.Tensor, weight: torch.Tensor | None) -> None:
        z, fz = z.double(), fz.double()
        w = torch.ones_like(z[:, :1]) if weight is None else weight.double()[:, None]
        terms = torch.stack(
            [
                w.expand_as(z),
                (z > 0) * w,
                (z < 0) * w,
                z * w,
                z * z * w,
                z.abs() * w,
                (fz - z).abs() * w,
            ]
        )
        self.sums += terms.sum(1)


def _rows(z: torch.Tensor, neuron_dim: int) -> torch.Tensor:
    """(N, C, H, W) -> (N*H*W, C); (..., C) -> (prod, C)."""
    if z.dim() == 4 and neuron_dim == 1:
        return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    return z.reshape(-1, z.shape[-1])


@torch.no_grad()
def activation_stats(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> pd.DataFrame:
    """One row per neuron of every activation site (columns `NEURON_COLUMNS`)."""
    if len(x) == 0:
        raise ConfigError("activation analysis needs at least one sample")
    device = next(model.parameters()).device
    sites = find_activation_sites(model, x[:2], "all")
    if not sites:
        raise ConfigError("the model has no activation to analyse")
    pad = getattr(model, "pad_token_id", None) if x.dtype == torch.long else None
    acc = {s.name: _Accumulator(s.num_features, device) for s in sites}
    token_weight: list[torch.Tensor | None] = [None]

    def hook(site):
        f = plain(site.module)

        def record(_module, args, _output) -> None:
            z = args[0]
            w = token_weight[0]
            if w is not None and z.dim() == 3 and z.shape[:2] == w.shape:
                w = w.reshape(-1)
            else:
                w = None
            rows = _rows(z, site.neuron_dim)
            fz = f.forward(z)  # forward, not __call__: a plain site is hooked itself
            acc[site.name].add(rows, _rows(fz, site.neuron_dim), w)

        return record

    handles = [s.module.register_forward_hook(hook(s)) for s in sites]
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size].to(device)
            token_weight[0] = (xb != pad).float() if pad is not None else None
            model(xb)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()

    frames = []
    for s in sites:
        n, pos, neg, sz, sz2, sabs, schange = acc[s.name].sums.cpu().numpy()
        n_safe = np.maximum(n, 1.0)
        mean = sz / n_safe
        module = s.module
        alpha = (
            module.alpha().detach().float().cpu().numpy()
            if isinstance(module, MaskedActivation)
            else np.ones(s.num_features)
        )
        frames.append(
            pd.DataFrame(
                {
                    "layer_idx": s.index,
                    "layer": s.name,
                    "neuron": np.arange(s.num_features),
                    "positive_frac": pos / n_safe,
                    "negative_frac": neg / n_safe,
                    "nonlinear_score": np.where(sabs > 0, schange / np.maximum(sabs, 1e-300), 0.0),
                    "pre_mean": mean,
                    "pre_std": np.sqrt(np.maximum(sz2 / n_safe - mean**2, 0.0)),
                    "pre_abs_mean": sabs / n_safe,
                    "alpha": alpha,
                    "evaluations": n,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[list(NEURON_COLUMNS)]


def layer_table(neurons: pd.DataFrame, thresholds: Thresholds | None = None) -> pd.DataFrame:
    """The guide's per-layer table: `layer_idx | pos_frac | nonlinear_score | gating_alpha_mean |
    linearized` and counts of linear, dead and influential neurons.

    A layer's `nonlinear_score` is that of all its neurons together (changed magnitude over
    total magnitude). `linearized` is true when the layer is linear already (all alphas 0) or
    when its statistics meet the linear rule of the thresholds.
    """
    t = thresholds or Thresholds()
    rows = []
    for (idx, name), g in neurons.groupby(["layer_idx", "layer"], sort=True):
        magnitude = g["pre_abs_mean"]  # every neuron of a layer sees the same evaluations
        pos = float(g["positive_frac"].mean())
        score = float(
            (g["nonlinear_score"] * magnitude).sum() / magnitude.sum()
            if magnitude.sum() > 0
            else 0.0
        )
        alpha_mean = float(g["alpha"].mean())
        rows.append(
            {
                "layer_idx": int(idx),
                "layer": name,
                "num_features": len(g),
                "pos_frac": pos,
                "neg_frac": float(g["negative_frac"].mean()),
                "nonlinear_score": score,
                "pre_mean": float(g["pre_mean"].mean()),
                "pre_std": float(g["pre_std"].mean()),
                "gating_alpha_mean": alpha_mean,
                "linear_neurons": int((g["alpha"] == 0).sum()),
                "linear_candidates": int(t.linear(g["positive_frac"], g["nonlinear_score"]).sum()),
                "dead_candidates": int(t.dead(g["negative_frac"]).sum()),
                "influential_neurons": int((g["nonlinear_score"] > t.influential).sum()),
                "linearized": bool(alpha_mean == 0.0 or t.linear(pos, score)),
            }
        )
    return pd.DataFrame(rows)


def stats_json(layers: pd.DataFrame, meta: Mapping[str, Any]) -> dict[str, Any]:
    """`activation_stats.json`: how it was measured, then layer name -> its statistics."""
    return {
        **meta,
        "layers": {
            r["layer"]: {k: v for k, v in r.items() if k != "layer"}
            for r in layers.to_dict(orient="records")
        },
    }
