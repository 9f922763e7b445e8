"""ReLU counts per sample and gates hardened to exactly a ReLU budget (layers/budget.py)."""

import copy
import itertools

import pytest
import torch
from torch import nn

from nonlinearity.errors import ConfigError
from nonlinearity.layers import Approach, GatedActivation, apply_approach
from nonlinearity.layers.budget import (
    ReluCosts,
    attach,
    budget_counts,
    check_budget,
    harden_to_budget,
    relu_costs,
)
from nonlinearity.measure.efficiency import nonlinear_units
from nonlinearity.models import build_model
from nonlinearity.training import GateConfig, gate_penalty
from tests.training.test_regularizers import _gates

# SNL's count for the CIFAR-stem ResNet-18 at 32x32: the stem, then 4 ReLUs per stage
CIFAR_RESNET18 = 64 * 32**2 + 4 * 64 * 32**2 + 4 * 128 * 16**2 + 4 * 256 * 8**2 + 4 * 512 * 4**2


def test_cifar_resnet18_backbone_has_557056_relus_per_image():
    """The papers' ResNet-18 has no hidden head: `head_hidden: []`."""
    assert CIFAR_RESNET18 == 557_056
    x = torch.zeros(2, 3, 32, 32)
    params = {"name": "resnet18_head", "stem": "cifar", "head_hidden": []}
    model = build_model(params, x.shape[1:], 10)
    apply_approach(model, Approach("gating", target="backbone.*"), x)
    costs = relu_costs(model, x)
    assert (len(costs.gates), costs.others, costs.total) == (17, 0, 557_056)
    assert sorted(set(costs.costs)) == [16, 64, 256, 1024]  # H*W of each stage
    assert nonlinear_units(model, x)["nonlinear_evals_per_sample"] == 557_056
    check_budget(costs, 50_000)
    with pytest.raises(ConfigError, match=r"16, 64, 256 or 1024 .*: 50000 and 50016$"):
        check_budget(costs, 50_001)


def test_fill_keeps_the_budget_reachable_and_each_layer_its_top_alphas():
    # by alpha a plain fill takes 2 + 2 (.9, .8) and cannot add 3: 4, not 5
    costs = ReluCosts(_gates([[0.8, 0.9], [0.7]]), [2, 3], 0)
    assert budget_counts(costs, 5) == [1, 1]
    harden_to_budget(costs, 5)
    assert costs.count() == 5
    assert costs.gates[0].nonlinear_mask.tolist() == [False, True]  # the .9 one
    assert costs.gates[1].nonlinear_mask.tolist() == [True]


def _small_net() -> tuple[nn.Module, torch.Tensor]:
    """Channels cost 36 (6x6), 9 (3x3) and 1 (dense); a plain ReLU head of 2 stays."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(36, 5), nn.ReLU(),
        nn.Linear(5, 2), nn.ReLU(), nn.Linear(2, 2),
    )  # fmt: skip
    x = torch.randn(2, 3, 6, 6)
    apply_approach(model, Approach("gating", target="0|1|2|3|4|5|6"), x)
    for g in model.modules():
        if isinstance(g, GatedActivation):
            with torch.no_grad():
                g.logit.copy_(torch.randn(g.num_features))
    return model, x


def test_hardening_hits_every_count_that_can_be_made_and_refuses_the_others():
    model, x = _small_net()
    costs = relu_costs(model, x)
    assert (costs.costs, costs.others, costs.total) == ([36, 9, 1], 2, 2 + 144 + 36 + 5)
    made = {2 + 36 * a + 9 * b + c for a, b, c in itertools.product(range(5), range(5), range(6))}
    for budget in range(costs.total + 2):
        if budget not in made:
            with pytest.raises(ConfigError, match="cannot be hit exactly"):
                check_budget(costs, budget)
            continue
        trial = copy.deepcopy(costs)  # its own copies of the gates
        harden_to_budget(trial, budget)
        assert trial.count() == budget
    harden_to_budget(costs, 2 + 36 * 2 + 9 * 3 + 4)  # the model's own gates: as measured
    assert nonlinear_units(model, x)["nonlinear_evals_per_sample"] == 105


def test_unreachable_budget_names_the_nearest_counts():
    costs = ReluCosts(_gates([[0.5] * 4, [0.5] * 4]), [16, 64], 512)
    with pytest.raises(ConfigError) as err:
        check_budget(costs, 520, "train_gated.variants.b50k")
    assert str(err.value) == (
        "train_gated.variants.b50k.relu_budget = 520 cannot be hit exactly on this model: it "
        "has 512..832 ReLUs per sample and a gated neuron costs 16 or 64 of them (its "
        "positions); nearest counts: 512 and 528"
    )
    with pytest.raises(ConfigError, match=r"512\.\.832 .*; nearest counts: 832$"):
        check_budget(costs, 900)
    with pytest.raises(ConfigError, match=r"nearest counts: 512$"):
        check_budget(costs, 100)


def test_budget_term_and_its_gradient():
    costs = ReluCosts(_gates([[0.2, 0.6], [0.5, 0.9, 0.3]]), [4, 1], 10)
    attach(costs)
    a = [torch.tensor([0.2, 0.6]), torch.tensor([0.5, 0.9, 0.3])]
    soft = 10 + 4 * 0.8 + 1 * 1.7  # 14.9
    total = 10 + 8 + 3
    cfg = GateConfig(relu_budget=12, relu_budget_weight=2.0)
    penalty = gate_penalty(costs.gates, cfg)
    assert penalty.item() == pytest.approx(2.0 * (soft - 12) / total, rel=1e-6)
    penalty.backward()
    for g, alpha, cost in zip(costs.gates, a, [4, 1], strict=True):
        # d/dlogit of w |R - B| / R_all = w sign(R - B) cost alpha (1 - alpha) / (T R_all)
        expected = 2.0 * cost * alpha * (1 - alpha) / total
        assert torch.allclose(g.logit.grad, expected, rtol=1e-5)
    under = gate_penalty(costs.gates, GateConfig(relu_budget=20, relu_budget_weight=1.0))
    assert under.item() == pytest.approx((20 - soft) / total, rel=1e-6)


def test_gate_config_takes_one_budget_and_no_weight_without_it():
    with pytest.raises(ConfigError, match="relu_budget and harden_budget are both set"):
        GateConfig.from_params({"relu_budget": 100, "harden_budget": 0.5}, "v")
    with pytest.raises(ConfigError, match=r"^v\.relu_budget_weight = 1 needs a relu_budget"):
        GateConfig.from_params({"relu_budget_weight": 1.0}, "v")
    with pytest.raises(ConfigError, match=r"v\.relu_budget = 1\.5 is invalid"):
        GateConfig.from_params({"relu_budget": 1.5}, "v")
