"""Gated activation: each neuron learns how nonlinear it is.

    y = a * f(z) + (1 - a) * z,    a = sigmoid(logit / T)  per neuron

`T` is a temperature the trainer anneals (lower is sharper). `harden()` turns the
soft gate into a fixed 0/1 mask, by a threshold on `a` or by keeping exactly `k`
neurons nonlinear (top-k by `a`); after that the layer is a mixed activation
and `1 - alpha().mean()` is its exact linear share.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .functional import gated_relu
from .mixed import MaskedActivation, broadcast_shape


class GatedActivation(MaskedActivation):
    """Per-neuron learned blend between the activation and identity."""

    def __init__(
        self,
        num_features: int,
        act: nn.Module,
        init_alpha: float = 0.9,
        temperature: float = 1.0,
        neuron_dim: int = -1,
    ) -> None:
        super().__init__(num_features, act, neuron_dim)
        if not 0.0 < init_alpha < 1.0:
            raise ValueError(f"init_alpha {init_alpha} must lie strictly between 0 and 1")
        self.init_alpha = float(init_alpha)
        self.temperature = float(temperature)
        self.hardened = False
        self.logit = nn.Parameter(torch.empty(num_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        a = self.init_alpha
        nn.init.constant_(self.logit, self.temperature * math.log(a / (1.0 - a)))

    @property
    def nonlinear_units(self) -> int:
        """A soft gate evaluates f for every neuron; a hardened one only where the mask is 1."""
        return self.n_nonlinear if self.hardened else self.num_features

    def alpha(self) -> torch.Tensor:
        if self.hardened:
            return self.nonlinear_mask.float()
        return torch.sigmoid(self.logit / self.temperature)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.hardened:
            return self.masked(z)
        a = self.alpha().view(broadcast_shape(self.num_features, z.dim(), self.neuron_dim))
        if self._fused_relu:
            return gated_relu(z, a)
        return torch.lerp(z, self.act(z), a.to(z.dtype))

    @torch.no_grad()
    def harden(self, threshold: float = 0.5, budget: int | None = None) -> None:
        """Fix the mask: `alpha >= threshold`, or exactly `budget` nonlinear neurons."""
        a = self.alpha()
        if budget is None:
            mask = a >= threshold
        else:
            if not 0 <= budget <= self.num_features:
                raise ValueError(f"budget {budget} is outside [0, {self.num_features}]")
            mask = torch.zeros_like(a, dtype=torch.bool)
            mask[torch.topk(a, budget).indices] = True
        self.set_mask(mask)
        self.hardened = True
        self.logit.requires_grad_(False)

    def extra_repr(self) -> str:
        state = (
            f"hardened, nonlinear={self.n_nonlinear}/{self.num_features}"
            if self.hardened
            else (f"T={self.temperature:g}, alpha_mean={self.alpha().mean().item():.3f}")
        )
        return f"{self.num_features}, {state}, neuron_dim={self.neuron_dim}"
