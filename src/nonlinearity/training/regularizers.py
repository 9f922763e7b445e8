"""Gate regularisers and the temperature schedule.

With alpha in [0, 1] per neuron over all gated layers:
    L1        mean(alpha)                       -> fewer nonlinear neurons
    entropy   mean(H(alpha)), H binary entropy  -> alphas decide: 0 or 1
    sparsity  |mean(alpha) - target|            -> a chosen share stays nonlinear
    budget    |R_alpha - B| / R_all             -> B ReLUs per sample stay (layers/budget.py)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..layers import GatedActivation
from ..layers.budget import budget_gap
from .config import GateConfig


def binary_entropy(a: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    a = a.clamp(eps, 1 - eps)
    return -(a * a.log() + (1 - a) * (1 - a).log())


def gate_penalty(gates: list[GatedActivation], cfg: GateConfig) -> torch.Tensor | None:
    """Weighted sum of the regularisers, or None when all weights are zero.

    Works on the logits u = logit / T of all live gates at once; with a = sigmoid(u) the
    binary entropy is H(a) = softplus(u) - a * u, stable and a few kernels per step.
    """
    live = [g for g in gates if not g.hardened]
    sparsity = cfg.sparsity_weight and cfg.sparsity_target is not None
    budget = cfg.relu_budget_weight and cfg.relu_budget is not None
    if not live or not (cfg.l1 or cfg.entropy or sparsity or budget):
        return None
    u = torch.cat([g.logit / g.temperature for g in live])
    a = torch.sigmoid(u)
    penalty = a.new_zeros(())
    if cfg.l1:
        penalty = penalty + cfg.l1 * a.mean()
    if cfg.entropy:
        penalty = penalty + cfg.entropy * (F.softplus(u) - a * u).mean()
    if sparsity:
        penalty = penalty + cfg.sparsity_weight * (a.mean() - cfg.sparsity_target).abs()
    if budget:
        penalty = penalty + cfg.relu_budget_weight * budget_gap(live, cfg.relu_budget)
    return penalty


def temperature_at(epoch: int, epochs: int, cfg: GateConfig) -> float:
    """Temperature for a 1-based epoch: from `start` at the first epoch to `end` at the last."""
    t0, t1 = cfg.temperature_start, cfg.temperature_end
    if cfg.temperature_schedule == "constant" or epochs <= 1:
        return t0
    s = (epoch - 1) / (epochs - 1)
    if cfg.temperature_schedule == "linear":
        return t0 + s * (t1 - t0)
    return t0 * (t1 / t0) ** s
