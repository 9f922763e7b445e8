"""Apply an approach to any `nn.Module` by swapping its activation modules.

Sites are found by tracing one forward pass on an example input, so the feature
count and neuron axis of each activation come from the tensors it really sees:
`(N, C, H, W)` inputs are per channel, everything else per last dim. A site's
index is the order of its first call, which is the "layer" of a schedule.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .gated import GatedActivation
from .mixed import PATTERNS, MaskedActivation, MixedActivation

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
APPROACHES = ("fixed", "layerwise", "gating")


def create_act(name: str) -> nn.Module:
    """A plain activation by name (`relu`, `gelu`, `silu`)."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"activation {name!r} is unknown; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


@dataclass
class ActivationSite:
    """One activation module of a model, as seen in a forward pass."""

    index: int  # order of first call among the targeted sites
    name: str  # qualified module name
    module: nn.Module
    num_features: int
    neuron_dim: int  # 1 for conv (N, C, H, W), -1 otherwise
    elements: int = 0  # evaluations per sample, all calls: C dense, C*H*W conv, L*C (B, L, C)


def _is_activation(module: nn.Module) -> bool:
    return isinstance(module, (MaskedActivation, *ACTIVATIONS.values()))


def _call(model: nn.Module, example: torch.Tensor | Mapping) -> None:
    if isinstance(example, Mapping):
        model(**example)
    else:
        model(example)


def find_activation_sites(
    model: nn.Module, example: torch.Tensor | Mapping, target: str = "all"
) -> list[ActivationSite]:
    """Activation sites in forward order; `target` is `all` or fnmatch patterns joined by `|`."""
    patterns = None if target == "all" else target.split("|")
    masked = [n for n, m in model.named_modules() if isinstance(m, MaskedActivation)]
    candidates = {
        name: m
        for name, m in model.named_modules()
        if _is_activation(m)
        and not any(name.startswith(p + ".") for p in masked)
        and (patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns))
    }
    seen: dict[str, tuple[int, int, int]] = {}

    def hook(name: str) -> Callable:
        def record(_module, args, _output) -> None:
            z = args[0]
            feats, dim = (z.shape[1], 1) if z.dim() == 4 else (z.shape[-1], -1)
            if name in seen and seen[name][:2] != (feats, dim):
                raise ConfigError(
                    f"activation {name!r} is shared by inputs of {seen[name][0]} and {feats} "
                    "features; give each call its own module"
                )
            calls = seen.get(name, (feats, dim, 0))[2]  # a module called twice evaluates twice
            seen[name] = (feats, dim, calls + z[0].numel())

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in candidates.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            _call(model, example)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return [
        ActivationSite(i, name, candidates[name], feats, dim, elements)
        for i, (name, (feats, dim, elements)) in enumerate(seen.items())
    ]


def plain(module: nn.Module) -> nn.Module:
    """The model's own nonlinearity inside a (possibly already swapped) site."""
    return module.act if isinstance(module, MaskedActivation) else module


@dataclass(frozen=True)
class Approach:
    """How to linearise: a fixed ratio, a per-layer schedule, or learned gates."""

    kind: str = "fixed"  # fixed | layerwise | gating
    ratio: float = 0.0  # fixed: share of linear neurons; layerwise: layers not in schedule
    pattern: str = "random"  # random | structured | alternating
    # layerwise: layer -> ratio, or a tuple of ratios spread from the first to the last layer
    schedule: Mapping[int, float] | tuple[float, ...] = field(default_factory=dict)
    init_alpha: float = 0.9  # gating: starting weight of the nonlinearity (1 - it: `start_alpha`)
    temperature: float = 1.0  # gating: starting temperature
    seed: int = 0  # masks: layer i uses seed + i
    target: str = "all"  # which activations: `all` or name patterns joined by `|`

    def validate(self) -> None:
        if self.kind not in APPROACHES:
            raise ConfigError(f"approach {self.kind!r} is unknown; valid: {', '.join(APPROACHES)}")
        if self.pattern not in PATTERNS:
            raise ConfigError(f"pattern {self.pattern!r} is unknown; valid: {', '.join(PATTERNS)}")
        items = (
            enumerate(self.schedule) if isinstance(self.schedule, tuple) else self.schedule.items()
        )
        for where, r in [("ratio", self.ratio)] + [(f"schedule entry {k}", v) for k, v in items]:
            if not 0.0 <= float(r) <= 1.0:
                raise ConfigError(f"{where}: linear ratio {r} is outside [0, 1]")
        if self.kind == "gating" and not 0.0 < self.init_alpha < 1.0:
            raise ConfigError(f"init_alpha {self.init_alpha} must lie strictly between 0 and 1")
        if self.kind == "gating" and self.temperature <= 0:
            raise ConfigError(f"temperature {self.temperature} must be positive")

    def ratio_for(self, index: int, layers: int = 0) -> float:
        if isinstance(self.schedule, tuple):
            return spread(self.schedule, layers)[index]
        return float(self.schedule.get(index, self.ratio))


def spread(ramp: tuple[float, ...], layers: int) -> list[float]:
    """Ratios at `layers` evenly spaced depths, interpolated linearly through `ramp`."""
    if layers <= 1:
        return [float(np.mean(ramp))] * layers
    depth = np.linspace(0.0, 1.0, layers)
    return np.interp(depth, np.linspace(0.0, 1.0, len(ramp)), ramp).tolist()


def check_schedule(approach: Approach, sites: list[ActivationSite]) -> None:
    """A schedule may only name layers the model has."""
    if isinstance(approach.schedule, tuple):
        return
    missing = sorted(k for k in approach.schedule if not 0 <= k < len(sites))
    if missing:
        raise ConfigError(
            f"layerwise schedule names layer {missing[0]}, but the model has activation layers "
            f"0..{len(sites) - 1} (target {approach.target!r})"
        )


def apply_approach(
    model: nn.Module, approach: Approach, example: torch.Tensor | Mapping
) -> list[ActivationSite]:
    """Swap the targeted activations of `model` in place; returns the sites swapped."""
    approach.validate()
    sites = find_activation_sites(model, example, approach.target)
    if not sites:
        raise ConfigError(f"target {approach.target!r} matches no activation of the model")
    check_schedule(approach, sites)
    for s in sites:
        act = plain(s.module)
        if approach.kind == "gating":
            new = GatedActivation(
                s.num_features, act, start_alpha(s, approach), approach.temperature, s.neuron_dim
            )
        else:
            new = MixedActivation(
                s.num_features,
                act,
                approach.ratio_for(s.index, len(sites)),
                approach.pattern,
                approach.seed + s.index,
                s.neuron_dim,
            )
        model.set_submodule(s.name, new.to(_device_of(model)))
    return sites


def start_alpha(site: ActivationSite, approach: Approach) -> float:
    """A gate starts near what its site computes: `init_alpha` where the site is nonlinear,
    `1 - init_alpha` where it is all linear (a site the model inserted, e.g. after an
    attention projection), so the model starts close to its own function."""
    m = site.module
    linear = isinstance(m, MaskedActivation) and m.nonlinear_units == 0
    return 1.0 - approach.init_alpha if linear else approach.init_alpha


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def masked_layers(model: nn.Module) -> list[MaskedActivation]:
    """The mixed and gated layers of a model, in registration order."""
    return [m for m in model.modules() if isinstance(m, MaskedActivation)]


def gated_layers(model: nn.Module) -> list[GatedActivation]:
    return [m for m in model.modules() if isinstance(m, GatedActivation)]


def layer_stats(model: nn.Module) -> list[dict]:
    """Per-layer alpha statistics of every mixed/gated layer (the history's `gating` field);
    `kind` where the model names its sites' module kinds (`model.site_kind(name)`)."""
    kind = getattr(model, "site_kind", None)
    return [
        {"layer": i, "name": name, "num_features": m.num_features, **m.stats()}
        | ({"kind": kind(name)} if kind else {})
        for i, (name, m) in enumerate(
            (n, m) for n, m in model.named_modules() if isinstance(m, MaskedActivation)
        )
    ]
