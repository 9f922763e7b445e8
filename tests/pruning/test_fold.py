"""Folding: exact on hand-built cases (known weights -> known merged matrices) and random ones."""

import pytest
import torch
from torch import nn

from nonlinearity.errors import ConfigError
from nonlinearity.layers import GatedActivation, MixedActivation
from nonlinearity.layers.apply import Approach, apply_approach
from nonlinearity.measure.efficiency import nonlinear_units
from nonlinearity.models.mlp import MLPConfig, build_mlp
from nonlinearity.pruning import FoldedMLP, fold_mlp, fold_model, linear_macs


def linear(weight, bias):
    w = torch.tensor(weight, dtype=torch.float64)
    lin = nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(torch.tensor(bias, dtype=torch.float64))
    return lin


def mixed(nonlinear):
    act = MixedActivation(len(nonlinear), nn.ReLU())
    act.set_mask(torch.tensor(nonlinear))
    return act


def test_all_linear_layer_merges_into_the_next():
    w1, b1 = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [1.0, 0.0, -1.0]
    w2, b2 = [[1.0, 0.0, 2.0]], [0.5]
    model = nn.Sequential(linear(w1, b1), mixed([False, False, False]), linear(w2, b2))
    folded = fold_mlp(model)
    assert len(folded.nodes) == 1  # depth shrinks: one Linear
    node = folded.nodes[0]
    # W2 W1 = [1*1 + 2*5, 1*2 + 2*6] = [11, 14]; W2 b1 + b2 = 1 - 2 + 0.5
    torch.testing.assert_close(
        node.linear.weight, torch.tensor([[11.0, 14.0]], dtype=torch.float64)
    )
    torch.testing.assert_close(node.linear.bias, torch.tensor([-0.5], dtype=torch.float64))
    assert node.act is None and node.sources == (0,)


def test_partly_linear_layer_merges_where_it_costs_less():
    # 2 inputs, 3 hidden (neuron 1 linear), 2 outputs: merging costs 2*2 = 4 <= 1*(2+2)
    w1, b1 = [[1.0, -1.0], [2.0, 1.0], [0.0, 3.0]], [0.0, 1.0, 2.0]
    w2, b2 = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [0.0, 1.0]
    model = nn.Sequential(linear(w1, b1), mixed([True, False, True]), linear(w2, b2))
    folded = fold_mlp(model)
    first, last = folded.nodes
    torch.testing.assert_close(first.linear.weight, torch.tensor(w1, dtype=torch.float64)[[0, 2]])
    assert isinstance(first.act, nn.ReLU) and first.linear.out_features == 2
    assert last.sources == (0, 1)  # skip from the input, then the nonlinear outputs
    # skip = W2[:, 1] W1[1] = [[2, 1]*2, [2, 1]*5]; then W2[:, [0, 2]]
    expected = torch.tensor([[4.0, 2.0, 1.0, 3.0], [10.0, 5.0, 4.0, 6.0]], dtype=torch.float64)
    torch.testing.assert_close(last.linear.weight, expected)
    # bias = W2[:, 1] b1[1] + b2 = [2, 5] + [0, 1]
    torch.testing.assert_close(last.linear.bias, torch.tensor([2.0, 6.0], dtype=torch.float64))
    x = torch.randn(50, 2, dtype=torch.float64)
    torch.testing.assert_close(folded(x), model(x), rtol=0, atol=1e-12)


def test_partly_linear_layer_stays_whole_where_merging_costs_more():
    torch.manual_seed(0)
    # 100 in, 100 hidden with 1 linear neuron, 100 out: merge 100*100 > 1*(100+100)
    model = nn.Sequential(nn.Linear(100, 100), mixed([True] * 99 + [False]), nn.Linear(100, 100))
    folded = fold_mlp(model)
    assert [n.linear.out_features for n in folded.nodes] == [100, 100]
    assert isinstance(folded.nodes[0].act, MixedActivation)
    assert folded.nodes[0].act.nonlinear_units == 99
    assert linear_macs(folded) == linear_macs(model)  # nothing to gain: the same work
    x = torch.randn(20, 100)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)


def test_plain_relu_mlp_folds_to_itself():
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(8, 3, [16, 16]))
    folded = fold_mlp(model)
    assert [n.sources for n in folded.nodes] == [(0,), (1,), (2,)]
    x = torch.randn(10, 1, 2, 4)
    torch.testing.assert_close(folded(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("seed", range(6))
def test_random_masks_fold_exactly_with_fewer_macs(seed):
    gen = torch.Generator().manual_seed(seed)
    widths = torch.randint(4, 40, (3,), generator=gen).tolist()
    ratios = torch.rand(3, generator=gen).tolist()
    ratios[seed % 3] = 1.0  # at least one layer all linear
    torch.manual_seed(seed)
    model = build_mlp(MLPConfig(12, 5, widths)).double().eval()
    apply_approach(
        model,
        Approach("layerwise", schedule=dict(enumerate(ratios)), seed=seed),
        torch.zeros(2, 12, dtype=torch.float64),
    )
    folded = fold_mlp(model)
    x = torch.randn(64, 12, dtype=torch.float64)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-10, atol=1e-10)
    assert linear_macs(folded) <= linear_macs(model)

    x2 = torch.zeros(2, 12, dtype=torch.float64)
    units = nonlinear_units(folded, x2)["nonlinear_units"]
    assert units == nonlinear_units(model, x2)["nonlinear_units"]
    assert len(folded.nodes) <= len(widths) + 1


def test_all_linear_mlp_is_one_linear_layer():
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(64, 10, [512, 512, 512])).eval()
    apply_approach(model, Approach("fixed", ratio=1.0), torch.zeros(2, 64))
    folded = fold_mlp(model)
    assert len(folded.nodes) == 1 and linear_macs(folded) == 64 * 10
    x = torch.randn(32, 64)
    ref = model(x)
    assert (folded(x) - ref).abs().max() <= 1e-4 * ref.abs().max()


def test_soft_gates_cannot_fold():
    model = nn.Sequential(nn.Linear(3, 4), GatedActivation(4, nn.ReLU()), nn.Linear(4, 2))
    with pytest.raises(ConfigError, match="harden it first"):
        fold_mlp(model)
    model[1].harden(budget=2)
    x = torch.randn(5, 3)
    torch.testing.assert_close(fold_mlp(model)(x), model(x))


def test_resnet_head_folds_and_batchnorm_fuses():
    from nonlinearity.models import build_model

    torch.manual_seed(0)
    model = build_model(
        {"name": "resnet18_head", "head_hidden": [32, 32], "stem": "imagenet"}, (3, 32, 32), 10
    )
    apply_approach(model, Approach("fixed", ratio=1.0, target="head.*"), torch.zeros(2, 3, 32, 32))
    model.eval()
    folded = fold_model(model)
    assert isinstance(folded.head, FoldedMLP) and len(folded.head.nodes) == 1
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.backbone.modules())
    x = torch.randn(4, 3, 32, 32)
    ref = model(x)
    assert (folded(x) - ref).abs().max() <= 1e-4 * ref.abs().max()


TINY_BERT = {
    "name": "transformer",
    "config": {
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "vocab_size": 30,
        "max_position_embeddings": 16,
    },
}


@pytest.mark.parametrize(("ratio", "macs"), [(0.05, 6432), (0.5, 4896), (1.0, 2848)])
def test_transformer_ffns_fold_exactly(ratio, macs):
    from nonlinearity.models import build_model

    torch.manual_seed(0)
    model = build_model(TINY_BERT, (8,), 2, "text").eval()
    ids = torch.randint(1, 30, (6, 8))
    ids[0, 5:] = 0  # padding
    apply_approach(model, Approach("fixed", ratio=ratio, target="*intermediate*"), ids[:2])
    folded = fold_model(model)
    torch.testing.assert_close(folded(ids), model(ids), rtol=1e-5, atol=1e-5)
    # per layer: 16x64 + 64x16 unfolded; merged: 16 x n + (n + 16) x 16
    assert linear_macs(folded) == macs
    units = nonlinear_units(folded, ids[:2])["nonlinear_units"]
    assert units == nonlinear_units(model, ids[:2])["nonlinear_units"]


def test_other_models_are_refused_with_one_line():
    with pytest.raises(ConfigError, match="folding supports MLPs, ResNet heads and BERT-style"):
        fold_model(nn.GRU(3, 3))
