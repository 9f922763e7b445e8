"""Mixed activation: a fixed share of neurons skip the nonlinearity.

    y = m * f(z) + (1 - m) * z,    m in {0, 1}^C over the neuron axis

`f` is the model's own activation (ReLU, GELU, ...). The neuron axis is the last
dim for dense / FFN inputs `(..., C)` and the channel dim for conv inputs
`(N, C, H, W)`. A ratio of linear neurons picks `round(ratio * C)` of them by a
pattern: `random` (seeded), `structured` (the first ones) or `alternating`
(evenly spread).

For ReLU, y = max(z, floor) with floor 0 (nonlinear neuron) or -inf (linear neuron).
At inference (no autograd) on dense inputs that is one `clamp_min` kernel and nothing
else, no view, cast or autograd Function: a mixed or hardened gated layer costs what
`nn.ReLU` costs (tests/layers/test_mixed.py counts the operators). An all-nonlinear ReLU layer runs
`torch.relu` itself, as `nn.ReLU` does, so the ratio-0 baseline costs a plain ReLU.
Other activations blend `f(z)` and `z` by `torch.where`, or, when the nonlinear units
are the first k (`layers.layout.nonlinear_first`), y = cat(f(z[..., :k]), z[..., k:]).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .functional import mixed_relu
from .stats import gate_stats

PATTERNS = ("random", "structured", "alternating")


def linear_count(num_features: int, ratio: float) -> int:
    """Number of linear neurons for a ratio, rounding half up."""
    return int(math.floor(ratio * num_features + 0.5))


def linear_mask(
    num_features: int, ratio: float, pattern: str = "random", seed: int = 0
) -> torch.Tensor:
    """Boolean mask (C,), True where the neuron is linear (identity)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"linear ratio {ratio} is outside [0, 1]")
    if pattern not in PATTERNS:
        raise ValueError(f"pattern {pattern!r} is unknown; valid: {', '.join(PATTERNS)}")
    k = linear_count(num_features, ratio)
    mask = torch.zeros(num_features, dtype=torch.bool)
    if k == 0:
        return mask
    if pattern == "structured":
        idx = torch.arange(k)
    elif pattern == "alternating":
        idx = torch.arange(k) * num_features // k  # distinct since C / k >= 1
    else:
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randperm(num_features, generator=gen)[:k]
    mask[idx] = True
    return mask


def broadcast_shape(num_features: int, ndim: int, neuron_dim: int) -> tuple[int, ...]:
    """Shape that broadcasts a (C,) vector onto an input of `ndim` dims along `neuron_dim`."""
    if neuron_dim == -1 or neuron_dim == ndim - 1:
        return (num_features,)
    return (num_features,) + (1,) * (ndim - 1 - neuron_dim)


class MaskedActivation(nn.Module):
    """Base: applies `act` where `nonlinear_mask` is True and identity elsewhere."""

    def __init__(self, num_features: int, act: nn.Module, neuron_dim: int = -1) -> None:
        super().__init__()
        self.num_features = num_features
        self.act = act
        self.neuron_dim = neuron_dim
        self.register_buffer("nonlinear_mask", torch.ones(num_features, dtype=torch.bool))
        # 0 where nonlinear, -inf where linear: ReLU(z) = max(z, 0), identity = max(z, -inf).
        self.register_buffer("relu_floor", torch.zeros(num_features), persistent=False)
        self._refresh()

    def set_mask(self, nonlinear_mask: torch.Tensor) -> None:
        self.nonlinear_mask.copy_(nonlinear_mask.to(self.nonlinear_mask.device))
        self._refresh()

    def _refresh(self) -> None:
        # Python ints, so the fast paths below never sync with the device.
        self.n_nonlinear = int(self.nonlinear_mask.sum())
        self._all_nonlinear = self.n_nonlinear == self.num_features
        self._all_linear = self.n_nonlinear == 0
        self._fused_relu = type(self.act) is nn.ReLU
        partly = not (self._all_nonlinear or self._all_linear)
        self._dense_clamp = self._fused_relu and partly and self.neuron_dim == -1
        k = self.n_nonlinear
        self._prefix = (
            partly
            and not self._fused_relu
            and self.neuron_dim == -1
            and bool(self.nonlinear_mask[:k].all())
        )
        floor = torch.zeros_like(self.relu_floor).masked_fill(~self.nonlinear_mask, float("-inf"))
        self.relu_floor.copy_(floor)
        self._floor, self._floor_dtype = self.relu_floor, self.relu_floor.dtype

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        # the buffer as moved or cast; a plain attribute reads in 0.04 us, a buffer in 0.7
        self._floor, self._floor_dtype = self.relu_floor, self.relu_floor.dtype
        return self

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._refresh()

    def masked(self, z: torch.Tensor) -> torch.Tensor:
        """`f` where the mask is 1, identity elsewhere; for ReLU, y = max(z, floor)."""
        if self._dense_clamp and not torch.is_grad_enabled() and z.dtype is self._floor_dtype:
            # inference: one kernel, no view, no cast; the method parses its arguments in
            # 2.8 us at batch 1 where torch.clamp(z, min=floor) takes 3.8 (nn.ReLU 2.9)
            return z.clamp_min(self._floor)
        if self._all_nonlinear:  # torch.relu is what nn.ReLU runs, one module call less
            return torch.relu(z) if self._fused_relu else self.act(z)
        if self._all_linear:
            return z
        if self._prefix:  # nonlinear units first (layers/layout.py): f on them only
            k = self.n_nonlinear
            return torch.cat((self.act(z[..., :k]), z[..., k:]), -1)
        shape = broadcast_shape(self.num_features, z.dim(), self.neuron_dim)
        if self._fused_relu:
            return mixed_relu(z, self._floor.view(shape))
        return torch.where(self.nonlinear_mask.view(shape), self.act(z), z)

    @property
    def nonlinear_units(self) -> int:
        """Neurons that evaluate the nonlinearity."""
        return self.n_nonlinear

    def alpha(self) -> torch.Tensor:
        """Effective per-neuron weight of the nonlinearity, (C,) in [0, 1]."""
        return self.nonlinear_mask.float()

    def stats(self) -> dict[str, float]:
        return gate_stats(self.alpha())


class MixedActivation(MaskedActivation):
    """Fixed 0/1 mask: `ratio` of the neurons are linear, chosen by `pattern`."""

    def __init__(
        self,
        num_features: int,
        act: nn.Module,
        ratio: float = 0.0,
        pattern: str = "random",
        seed: int = 0,
        neuron_dim: int = -1,
    ) -> None:
        super().__init__(num_features, act, neuron_dim)
        self.ratio = float(ratio)
        self.pattern = pattern
        self.seed = seed
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.set_mask(~linear_mask(self.num_features, self.ratio, self.pattern, self.seed))

    forward = MaskedActivation.masked  # the mask is the whole layer: no second Python frame

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, ratio={self.ratio}, pattern={self.pattern}, "
            f"nonlinear={self.n_nonlinear}/{self.num_features}, neuron_dim={self.neuron_dim}"
        )
