import pytest
import torch
from torch import nn

from nonlinearity.layers import GatedActivation, gate_stats


def _gate(num_features=12, **kw):
    return GatedActivation(num_features, nn.ReLU(), **kw)


def test_alpha_one_is_relu_and_alpha_zero_is_identity():
    z = torch.randn(8, 12)
    g = _gate()
    with torch.no_grad():
        g.logit.fill_(100.0)  # sigmoid -> exactly 1.0 in float32
    assert torch.equal(g(z), z.clamp_min(0))
    with torch.no_grad():
        g.logit.fill_(-200.0)
    assert torch.equal(g(z), z)


def test_soft_blend_and_gradients():
    z = torch.randn(8, 12)
    g = _gate(init_alpha=0.3)
    assert torch.allclose(g.alpha(), torch.full((12,), 0.3))
    torch.testing.assert_close(g(z), 0.3 * z.clamp_min(0) + 0.7 * z)
    g(z).sum().backward()
    assert g.logit.grad is not None and g.logit.grad.abs().sum() > 0


def test_temperature_scales_logits():
    g = _gate(init_alpha=0.8, temperature=2.0)
    assert torch.allclose(g.alpha(), torch.full((12,), 0.8))
    g.temperature = 0.5
    assert torch.all(g.alpha() > 0.99)


@pytest.mark.parametrize("budget", [0, 1, 5, 12])
def test_harden_by_budget_keeps_exactly_k(budget):
    g = _gate()
    with torch.no_grad():
        g.logit.copy_(torch.randn(12))
    top = set(torch.topk(g.alpha(), budget).indices.tolist())
    g.harden(budget=budget)
    assert g.hardened and g.n_nonlinear == budget
    assert set(g.nonlinear_mask.nonzero().flatten().tolist()) == top
    assert g.stats()["alpha_mean"] == pytest.approx(budget / 12)


def test_harden_by_threshold_then_exact_mask():
    g = _gate(num_features=4)
    with torch.no_grad():
        g.logit.copy_(torch.tensor([-3.0, -0.1, 0.1, 3.0]))
    g.harden(threshold=0.5)
    assert g.nonlinear_mask.tolist() == [False, False, True, True]
    assert not g.logit.requires_grad
    z = torch.randn(3, 4)
    y = g(z)
    assert torch.equal(y[:, :2], z[:, :2]) and torch.equal(y[:, 2:], z[:, 2:].clamp_min(0))


def test_conv_gate_per_channel():
    x = torch.randn(2, 3, 4, 4)
    g = GatedActivation(3, nn.ReLU(), neuron_dim=1)
    with torch.no_grad():
        g.logit.copy_(torch.tensor([100.0, -200.0, 100.0]))
    y = g(x)
    assert torch.equal(y[:, 0], x[:, 0].clamp_min(0)) and torch.equal(y[:, 1], x[:, 1])


def test_gate_stats_values():
    s = gate_stats(torch.tensor([0.05, 0.2, 0.5, 0.95]))
    assert s["alpha_mean"] == pytest.approx(0.425)
    assert s["alpha_median"] == pytest.approx(0.35)
    assert (s["alpha_min"], s["alpha_max"]) == (pytest.approx(0.05), pytest.approx(0.95))
    assert s["alpha_lt_0.1"] == 0.25 and s["alpha_lt_0.25"] == 0.5 and s["alpha_gt_0.9"] == 0.25


def test_init_alpha_must_be_open_interval():
    with pytest.raises(ValueError, match="strictly between"):
        _gate(init_alpha=1.0)
