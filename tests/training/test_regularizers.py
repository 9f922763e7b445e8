import math

import pytest
import torch
from torch import nn

from nonlinearity.layers import GatedActivation
from nonlinearity.training import GateConfig, binary_entropy, gate_penalty, temperature_at


def _gates(alphas):
    out = []
    for a in alphas:
        g = GatedActivation(len(a), nn.ReLU())
        with torch.no_grad():
            g.logit.copy_(torch.logit(torch.tensor(a)))
        out.append(g)
    return out


def test_penalty_terms():
    gates = _gates([[0.2, 0.6], [0.5, 0.9]])  # mean alpha 0.55
    a = torch.tensor([0.2, 0.6, 0.5, 0.9])
    assert gate_penalty(gates, GateConfig(l1=2.0)).item() == pytest.approx(2 * 0.55, rel=1e-5)
    h = -(a * a.log() + (1 - a) * (1 - a).log()).mean().item()
    assert gate_penalty(gates, GateConfig(entropy=1.0)).item() == pytest.approx(h, rel=1e-5)
    cfg = GateConfig(sparsity_target=0.25, sparsity_weight=3.0)
    assert gate_penalty(gates, cfg).item() == pytest.approx(3 * 0.30, rel=1e-5)
    assert gate_penalty(gates, GateConfig()) is None


def test_entropy_is_max_at_half_and_zero_at_ends():
    h = binary_entropy(torch.tensor([0.5, 0.0, 1.0]))
    assert h[0].item() == pytest.approx(math.log(2))
    assert h[1].item() == pytest.approx(0, abs=1e-4) and h[2].item() == pytest.approx(0, abs=1e-4)


def test_l1_pushes_alphas_down():
    gates = _gates([[0.5, 0.5]])
    gate_penalty(gates, GateConfig(l1=1.0)).backward()
    assert torch.all(gates[0].logit.grad > 0)  # gradient descent lowers the logits


def test_temperature_schedules():
    cfg = GateConfig(temperature_start=1.0, temperature_end=0.1)
    assert temperature_at(1, 10, cfg) == 1.0
    assert temperature_at(10, 10, cfg) == pytest.approx(0.1)
    assert temperature_at(4, 7, cfg) == pytest.approx(math.sqrt(0.1))  # geometric midpoint
    lin = GateConfig(temperature_start=1.0, temperature_end=0.2, temperature_schedule="linear")
    assert temperature_at(3, 5, lin) == pytest.approx(0.6)
    const = GateConfig(temperature_start=2.0, temperature_end=0.2, temperature_schedule="constant")
    assert temperature_at(5, 5, const) == 2.0
