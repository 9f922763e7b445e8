"""The fused ReLU paths against the plain formulas, values and gradients."""

import pytest
import torch
from torch import nn

from nonlinearity.layers import GatedActivation, MixedActivation
from nonlinearity.layers.functional import gated_relu, mixed_relu


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 5), (2, 5, 3, 3)])
def test_mixed_relu_matches_where(shape):
    neuron_dim = 1 if len(shape) == 4 else -1
    m = MixedActivation(5, nn.ReLU(), ratio=0.4, seed=2, neuron_dim=neuron_dim)
    view = (5, 1, 1) if len(shape) == 4 else (5,)
    z = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    ref = torch.where(m.nonlinear_mask.view(view), torch.relu(z), z)
    y = m.to(torch.float64)(z)
    assert torch.equal(y, ref)
    g = torch.randn(shape, dtype=torch.float64)
    (gz,) = torch.autograd.grad(y, z, g)
    (gref,) = torch.autograd.grad(ref, z, g)
    assert torch.equal(gz, gref)


def test_mixed_relu_gradcheck():
    lower = torch.tensor([0.0, float("-inf"), 0.0], dtype=torch.float64)
    z = torch.tensor([[0.5, -1.0, -0.3], [-0.7, 2.0, 1.1]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: mixed_relu(t, lower), (z,))


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 5), (2, 5, 3, 3)])
def test_gated_relu_matches_lerp(shape):
    view = (5, 1, 1) if len(shape) == 4 else (5,)
    z = (torch.randn(shape, dtype=torch.float64) + 0.01).requires_grad_()  # away from the kink
    a = torch.rand(5, dtype=torch.float64).view(view).requires_grad_()
    y = gated_relu(z, a)
    ref = torch.lerp(z, torch.relu(z), a)
    torch.testing.assert_close(y, ref)
    g = torch.randn(shape, dtype=torch.float64)
    for got, want in zip(
        torch.autograd.grad(y, (z, a), g), torch.autograd.grad(ref, (z, a), g), strict=True
    ):
        torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(gated_relu, (z, a))


def test_gated_module_uses_fused_path_for_relu_only():
    z = torch.randn(4, 6)
    relu, gelu = GatedActivation(6, nn.ReLU(), 0.3), GatedActivation(6, nn.GELU(), 0.3)
    torch.testing.assert_close(relu(z), 0.3 * torch.relu(z) + 0.7 * z)
    torch.testing.assert_close(gelu(z), 0.3 * nn.functional.gelu(z) + 0.7 * z)


def test_inference_path_equals_training_path():
    z = torch.randn(5, 6)
    lower = torch.tensor([0.0, float("-inf")] * 3)
    a = torch.rand(6)
    with torch.no_grad():
        fast_m, fast_g = mixed_relu(z, lower), gated_relu(z, a)
    assert torch.equal(fast_m, mixed_relu(z, lower))
    assert torch.equal(fast_g, gated_relu(z, a))
