"""Fused mixed and gated ReLU: few elementwise passes each way, no bool tensors.

For ReLU the blend has a closed form, y = z + a * relu(-z) (a = 1: ReLU, a = 0:
identity). Autograd through `torch.where` / `torch.lerp` builds bool masks and
extra passes that cost 4x a ReLU on CPU; these functions use the same fused
`threshold_backward` kernel as `nn.ReLU`. Gradients match the ReLU convention
(zero at z = 0) and are checked against autograd in tests/layers/test_functional.py.
Temporaries are written in place where the result can take their buffer (one
allocation fewer per pass: page faults and cache misses on CPU), the same values.
"""

from __future__ import annotations

import torch

_threshold_backward = torch.ops.aten.threshold_backward
_threshold_backward_out = torch.ops.aten.threshold_backward.grad_input


class _MixedReLU(torch.autograd.Function):
    """y = max(z, lower), lower = 0 (nonlinear neuron) or -inf (linear neuron)."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
        y = torch.clamp(z, min=lower)
        ctx.save_for_backward(y, lower)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        y, lower = ctx.saved_tensors
        # y - lower > 0 exactly where dy/dz = 1: z > 0, or any z for a linear neuron (+inf).
        d = y - lower
        return _threshold_backward_out(grad, d, 0, grad_input=d), None  # in place: one buffer


class _GatedReLU(torch.autograd.Function):
    """y = z + a * relu(-z), with `a` broadcast along the neuron axis."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        r = torch.neg(z).relu_()
        ctx.save_for_backward(r, a)
        return torch.addcmul(z, r, a)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        r, a = ctx.saved_tensors
        grad_z = grad_a = None
        if ctx.needs_input_grad[0]:
            grad_z = _threshold_backward(grad, r, 0)  # grad where z < 0
            torch.addcmul(grad, grad_z, a, value=-1, out=grad_z)  # grad - a * that, in place
        if ctx.needs_input_grad[1]:
            grad_a = (grad * r).sum_to_size(a.shape)  # dy/da = relu(-z), summed over broadcast dims
        return grad_z, grad_a


def mixed_relu(z: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """ReLU where `lower` is 0, identity where it is -inf (broadcast onto z)."""
    if not torch.is_grad_enabled():  # inference: skip the Function's Python overhead
        return torch.clamp(z, min=lower.to(z.dtype))
    return _MixedReLU.apply(z, lower.to(z.dtype))


def gated_relu(z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """alpha * relu(z) + (1 - alpha) * z, alpha broadcast onto z."""
    if not torch.is_grad_enabled():
        return torch.addcmul(z, torch.relu(-z), alpha.to(z.dtype))
    return _GatedReLU.apply(z, alpha.to(z.dtype))
