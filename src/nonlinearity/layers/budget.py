"""ReLU budgets: a model's ReLU count per sample, and gates hardened to exactly a count.

A neuron (a channel, for conv) costs one evaluation per position per call,

    cost_l = elements_l / C_l     (H·W for a conv channel called once; 1 for a dense neuron)

and the model's ReLU count per sample is `R = Σ_l Σ_c m_c · cost_l` with `m_c = 1` where
the neuron applies its nonlinearity: meta.json's `nonlinear_evals_per_sample`
(`measure.nonlinear_units`), the count of SNL and AutoReP for a conv net. With soft gates
`R_α = F + Σ_gates Σ_c α_c · cost_l`, `F` the count of the activations without a gate.

Hardening to a budget B ranks every gated channel by α (descending; ties by layer, then
channel) and takes each while it fits and the rest can still make up the remainder
exactly; each layer then keeps its top-k_l by α. So `R = B` exactly whenever B can be
made at all: B ∈ {F + Σ_l k_l · cost_l : 0 ≤ k_l ≤ C_l}; other counts are refused, with
the nearest that can be made.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from .apply import find_activation_sites
from .gated import GatedActivation
from .mixed import MaskedActivation


@dataclass
class ReluCosts:
    """Where a model's ReLU count per sample comes from."""

    gates: list[GatedActivation]  # in forward order
    costs: list[int]  # per gate: evaluations of one neuron per sample (its positions)
    others: int  # ReLU count per sample of the activations without a gate

    @property
    def total(self) -> int:
        """The count with every neuron nonlinear."""
        return self.others + sum(c * n for c, n in self.groups())

    def count(self) -> int:
        """The count now: hardened gates by their masks, soft gates as fully nonlinear."""
        return self.others + sum(c * g.nonlinear_units for g, c in self._pairs())

    def groups(self, sizes: list[int] | None = None) -> list[tuple[int, int]]:
        """(cost, neurons) per gate; `sizes`: neurons per gate instead of all of them."""
        sizes = [g.num_features for g in self.gates] if sizes is None else sizes
        return list(zip(self.costs, sizes, strict=True))

    def _pairs(self) -> zip:
        return zip(self.gates, self.costs, strict=True)

    def soft_count(self) -> torch.Tensor:
        """`R_α = F + Σ α_c · cost_c`, differentiable in the gate logits."""
        return self.others + sum((g.alpha() * c).sum() for g, c in self._pairs())


def relu_costs(model: nn.Module, example: torch.Tensor) -> ReluCosts:
    """The costs of `model`'s activations, traced on one sample of `example`."""
    gates, costs, others = [], [], 0
    for s in find_activation_sites(model, example[:1]):
        cost = s.elements // s.num_features
        if isinstance(s.module, GatedActivation):
            gates.append(s.module)
            costs.append(cost)
        elif isinstance(s.module, MaskedActivation):
            others += s.module.nonlinear_units * cost
        else:
            others += s.elements
    return ReluCosts(gates, costs, others)


def attach(costs: ReluCosts) -> None:
    """Give every gate the model's costs, for the budget regulariser (`budget_gap`)."""
    for g in costs.gates:
        g.relu_costs = costs


def budget_gap(gates: list[GatedActivation], budget: int) -> torch.Tensor:
    """`|R_α − B| / R_all`: the soft ReLU count's distance to the budget, as a share of
    all the model's ReLUs; the gates carry their costs (`attach`)."""
    costs = gates[0].relu_costs
    return (costs.soft_count() - budget).abs() / costs.total


def _reachable(groups: list[tuple[int, int]], limit: int) -> int:
    """Bit i set: i = Σ k_l · cost_l with 0 ≤ k_l ≤ n_l for `groups` of (cost, n), i ≤ limit."""
    bits, mask = 1, (1 << (limit + 1)) - 1
    for cost, n in groups:
        part, left = 1, n
        while left > 0:  # bounded knapsack by binary splitting: parts 1, 2, 4, ..., the rest
            take = min(part, left)
            bits = (bits | bits << (take * cost)) & mask
            left -= take
            part *= 2
    return bits


def nearest(costs: ReluCosts, budget: int) -> tuple[int | None, int | None]:
    """The counts the gates can make nearest to `budget`: (at or below, at or above)."""
    gated = budget - costs.others
    top = costs.total - costs.others
    bits = _reachable(costs.groups(), top)
    below = next((i for i in range(min(gated, top), -1, -1) if bits >> i & 1), None)
    above = next((i for i in range(max(gated, 0), top + 1) if bits >> i & 1), None)
    return (
        None if below is None else below + costs.others,
        None if above is None else above + costs.others,
    )


def check_budget(costs: ReluCosts, budget: int, where: str = "gating") -> None:
    """ConfigError (one line) unless the gates can make exactly `budget` ReLUs per sample."""
    if not costs.gates:
        raise ConfigError(f"{where}.relu_budget needs gated activations; the model has none")
    near = nearest(costs, budget)
    if budget in near:
        return
    *most, last = sorted(set(costs.costs))
    steps = f"{', '.join(map(str, most))} or {last}" if most else str(last)
    hits = " and ".join(str(n) for n in dict.fromkeys(near) if n is not None)
    raise ConfigError(
        f"{where}.relu_budget = {budget} cannot be hit exactly on this model: it has "
        f"{costs.others}..{costs.total} ReLUs per sample and a gated neuron costs {steps} of "
        f"them (its positions); nearest counts: {hits}"
    )


def budget_counts(costs: ReluCosts, budget: int, where: str = "gating") -> list[int]:
    """Nonlinear neurons k_l per gate that make `budget` exactly, by α (module docstring)."""
    check_budget(costs, budget, where)
    alphas = [g.alpha().detach().float().cpu().tolist() for g in costs.gates]
    order = sorted(
        (-a, layer, c) for layer, alpha in enumerate(alphas) for c, a in enumerate(alpha)
    )
    layers = [layer for _, layer, _ in order]
    counts, remainder = _fill(layers, costs, budget - costs.others, check=False)
    if remainder:  # the plain fill missed: fill again, keeping the remainder reachable
        counts, remainder = _fill(layers, costs, budget - costs.others, check=True)
    assert remainder == 0, "check_budget let through a count the fill cannot make"
    return counts


def _fill(
    layers: list[int], costs: ReluCosts, remainder: int, check: bool
) -> tuple[list[int], int]:
    """Take channels (their layers, in α order) while they fit; with `check`, only those
    that leave a remainder the channels after them can still make. When the plain fill
    ends exact, every take left such a remainder, so both fills agree."""
    left = [g.num_features for g in costs.gates]
    counts = [0] * len(left)
    for layer in layers:
        left[layer] -= 1
        rest = remainder - costs.costs[layer]
        if rest < 0:
            continue
        if check and rest and not _reachable(costs.groups(left), rest) >> rest & 1:
            continue
        counts[layer] += 1
        remainder = rest
    return counts, remainder


@torch.no_grad()
def harden_to_budget(costs: ReluCosts, budget: int) -> None:
    """Harden every gate so that the model has exactly `budget` ReLUs per sample."""
    for g, k in zip(costs.gates, budget_counts(costs, budget), strict=True):
        g.harden(budget=k)
