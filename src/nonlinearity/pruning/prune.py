"""Post-training linearisation: decisions from activation statistics, then surgery.

Decisions (one per neuron of the targeted activation sites):

- `linear`: already linear (alpha 0), or the statistics meet the linear rule
  (`positive_frac > t` and `nonlinear_score < t`, per neuron or for the whole layer),
  or, with a budget, not among the `round(budget * C)` most nonlinear neurons;
- `dead`: `negative_frac > t`; removed structurally where the layer is a Linear whose
  outputs feed one Linear (MLPs, MLP heads, transformer FFNs), else kept nonlinear;
- `nonlinear`: the rest.

Surgery turns every targeted site into a `MixedActivation` with the decided mask and
rebuilds the producing and consuming Linear layers without the dead neurons.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..analysis import Thresholds, layer_table
from ..errors import ConfigError
from ..layers.apply import ActivationSite, find_activation_sites, plain
from ..layers.mixed import MixedActivation, linear_count
from ..params import parse, setting

Level = Literal["neuron", "layer"]
LEVELS = get_args(Level)


def _check_sources(patterns: list[str], path: str) -> None:
    for i, p in enumerate(patterns):
        if not p.strip() or "|" in p:
            raise ConfigError(
                f"{path}[{i}] = {p!r} is invalid: must be one fnmatch pattern of run keys "
                "(e.g. fixed_0_s*, gated-*; * for every run)"
            )


@dataclass(frozen=True)
class PruneConfig:
    """`pruning`; the thresholds and the sample come from `activation_analysis`."""

    level: Level = "neuron"  # the linear rule on each neuron or the layer
    budget: float | None = setting(None, ge=0, le=1)  # share of each layer kept nonlinear
    remove_dead: bool = True  # remove dead neurons structurally where possible
    finetune_epochs: int = setting(3, ge=0)  # epochs after the surgery
    lr: float | None = setting(None, gt=0)  # fine-tuning learning rate; None: the run's own
    # which runs to prune: fnmatch patterns of run keys (any one matches)
    sources: list[str] = setting(
        factory=lambda: ["fixed_0_s*", "gated-*"], nonempty=True, check=_check_sources
    )

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> PruneConfig:
        return parse(cls, params, "pruning")

    def settings(self) -> dict[str, Any]:
        """What decides a pruned run (its fingerprint, meta.json): all but `sources`."""
        return {k: v for k, v in asdict(self).items() if k != "sources"}

    def prunes(self, key: str) -> bool:
        """Whether the run of this key is a source of pruning."""
        return any(fnmatch.fnmatchcase(key, p) for p in self.sources)


def decide(
    neurons: pd.DataFrame,
    thresholds: Thresholds,
    cfg: PruneConfig,
    targeted: set[str] | None = None,
) -> pd.DataFrame:
    """One row per neuron: the statistics, `decision` and `reason`."""
    t = thresholds
    out = neurons.copy()
    out["decision"] = "nonlinear"
    out["reason"] = ""
    layers = layer_table(neurons, t).set_index("layer")
    for name, g in out.groupby("layer", sort=False):
        idx = g.index
        if targeted is not None and name not in targeted:
            out.loc[idx, "decision"] = g["alpha"].gt(0.5).map({True: "nonlinear", False: "linear"})
            out.loc[idx, "reason"] = "outside the run's target"
            continue
        already = g["alpha"] == 0
        dead = t.dead(g["negative_frac"]) & ~already if cfg.remove_dead else already & False
        free = ~already & ~dead
        if cfg.budget is not None:
            keep = linear_count(len(g), float(cfg.budget))
            order = g.loc[free, "nonlinear_score"].sort_values(ascending=False, kind="stable")
            kept = set(order.index[:keep])
            linear = free & ~g.index.isin(kept)
            rule = f"budget {cfg.budget}: not among the {keep} most nonlinear"
        elif cfg.level == "layer":
            layer_linear = bool(layers.loc[name, "linearized"])
            linear = free & layer_linear
            rule = f"layer: pos_frac > {t.positive_frac} and nonlinear_score < {t.nonlinear_score}"
        else:
            linear = free & t.linear(g["positive_frac"], g["nonlinear_score"])
            rule = f"positive_frac > {t.positive_frac} and nonlinear_score < {t.nonlinear_score}"
        out.loc[idx[already], ["decision", "reason"]] = ["linear", "already linear"]
        out.loc[idx[dead], ["decision", "reason"]] = ["dead", f"negative_frac > {t.negative_frac}"]
        out.loc[idx[linear], ["decision", "reason"]] = ["linear", rule]
        out.loc[idx[free & ~linear], "reason"] = "kept"
    return out


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent, _, leaf = name.rpartition(".")
    return (model.get_submodule(parent) if parent else model), leaf


def linear_neighbours(model: nn.Module, site_name: str) -> tuple[str, str] | None:
    """Names of the Linear that feeds a site and the Linear it feeds, where both are plain.

    `nn.Sequential` MLPs (Linear, activation, Dropout?, Linear) and BERT-style FFNs
    (`<layer>.intermediate.dense` -> act -> `<layer>.output.dense`); else None.
    """
    parent, leaf = _parent(model, site_name)
    prefix = site_name[: -len(leaf)]
    if isinstance(parent, nn.Sequential):
        names = list(parent._modules)
        i = names.index(leaf)
        before = [n for n in names[:i] if not isinstance(parent._modules[n], nn.Dropout)]
        after = [n for n in names[i + 1 :] if not isinstance(parent._modules[n], nn.Dropout)]
        if (
            before
            and after
            and isinstance(parent._modules[before[-1]], nn.Linear)
            and isinstance(parent._modules[after[0]], nn.Linear)
        ):
            return prefix + before[-1], prefix + after[0]
        return None
    if site_name.endswith("intermediate.intermediate_act_fn"):
        layer = site_name[: -len("intermediate.intermediate_act_fn")]
        producer, consumer = layer + "intermediate.dense", layer + "output.dense"
        try:
            p, c = model.get_submodule(producer), model.get_submodule(consumer)
        except AttributeError:
            return None
        if isinstance(p, nn.Linear) and isinstance(c, nn.Linear):
            return producer, consumer
    return None


def _shrink(linear: nn.Linear, keep: torch.Tensor, dim: int) -> nn.Linear:
    """A copy with only the `keep` outputs (dim 0) or inputs (dim 1)."""
    w = linear.weight.detach()[keep] if dim == 0 else linear.weight.detach()[:, keep]
    new = nn.Linear(w.shape[1], w.shape[0], bias=linear.bias is not None).to(w)
    with torch.no_grad():
        new.weight.copy_(w)
        if linear.bias is not None:
            new.bias.copy_(linear.bias.detach()[keep] if dim == 0 else linear.bias.detach())
    return new


@torch.no_grad()
def apply_decisions(
    model: nn.Module, decisions: pd.DataFrame, example: torch.Tensor
) -> dict[str, Any]:
    """Linearise and remove neurons in place; returns what was done, per layer.

    Dead neurons that cannot be removed (no plain Linear on both sides, or the last one of
    a layer) stay nonlinear, and their rows in `decisions` say so.
    """
    sites: dict[str, ActivationSite] = {
        s.name: s for s in find_activation_sites(model, example, "all")
    }
    done: dict[str, Any] = {}
    for name, rows in decisions.groupby("layer", sort=False):
        if name not in sites:
            raise ConfigError(
                f"the decisions name layer {name!r}, which this model does not have: "
                "run activation_analysis again for this run"
            )
        site = sites[name]
        if len(rows) != site.num_features:
            raise ConfigError(
                f"the decisions for {name!r} cover {len(rows)} neurons, the model has "
                f"{site.num_features}: run activation_analysis again for this run"
            )
        g = rows.sort_values("neuron")
        decision = g["decision"].to_numpy()
        if set(g["reason"]) == {"outside the run's target"}:
            continue
        dead = torch.as_tensor(decision == "dead")
        neighbours = linear_neighbours(model, name)
        kept = dead.clone() if neighbours is None else torch.zeros_like(dead)
        if dead.all() and neighbours is not None:  # a layer cannot vanish
            kept[int(g["negative_frac"].to_numpy().argmin())] = True  # its least dead stays
        if kept.any():
            dead &= ~kept
            decision = np.where(kept.numpy(), "nonlinear", decision)
            why = "dead, not removable here" if neighbours is None else "dead, last of its layer"
            decisions.loc[g.index[kept.numpy()], ["decision", "reason"]] = ["nonlinear", why]
        keep = ~dead
        act = plain(site.module)
        mask = torch.as_tensor([d == "nonlinear" for d in decision])[keep]
        new = MixedActivation(int(keep.sum()), act, neuron_dim=site.neuron_dim)
        new.set_mask(mask)
        new.ratio = float(1 - mask.float().mean()) if len(mask) else 0.0
        new.pattern = "pruning"
        device = next(model.parameters()).device
        if dead.any():
            producer, consumer = neighbours
            idx = keep.nonzero().flatten()
            model.set_submodule(producer, _shrink(model.get_submodule(producer), idx, 0))
            model.set_submodule(consumer, _shrink(model.get_submodule(consumer), idx, 1))
        model.set_submodule(name, new.to(device))
        done[name] = {
            "neurons_before": site.num_features,
            "removed_dead": int(dead.sum()),
            "linear": int((~mask).sum()),
            "nonlinear": int(mask.sum()),
        }
    return done
