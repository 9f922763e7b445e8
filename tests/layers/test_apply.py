import pytest
import torch
from torch import nn

from nonlinearity.errors import ConfigError
from nonlinearity.layers import (
    Approach,
    GatedActivation,
    MixedActivation,
    apply_approach,
    find_activation_sites,
    layer_stats,
)
from nonlinearity.models import MLPConfig, build_mlp


def _mlp():
    torch.manual_seed(0)
    return build_mlp(MLPConfig(in_features=64, num_classes=10, hidden_sizes=[16, 24, 32]))


X = torch.zeros(2, 1, 8, 8)


def test_sites_in_forward_order_with_feature_counts():
    sites = find_activation_sites(_mlp(), X)
    assert [(s.index, s.name, s.num_features, s.neuron_dim) for s in sites] == [
        (0, "act0", 16, -1),
        (1, "act1", 24, -1),
        (2, "act2", 32, -1),
    ]


def test_conv_sites_are_per_channel():
    model = nn.Sequential(
        nn.Conv2d(3, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4 * 4, 7), nn.GELU()
    )
    sites = find_activation_sites(model, torch.zeros(1, 3, 6, 6))
    assert [(s.num_features, s.neuron_dim) for s in sites] == [(5, 1), (7, -1)]
    apply_approach(
        model, Approach("fixed", ratio=0.4, pattern="structured"), torch.zeros(1, 3, 6, 6)
    )
    assert isinstance(model[1], MixedActivation) and model[1].n_nonlinear == 3
    assert isinstance(model[4].act, nn.GELU)


def test_fixed_equals_relu_at_zero_and_linear_at_one():
    x = torch.randn(5, 1, 8, 8)
    plain, mixed = _mlp(), _mlp()
    apply_approach(mixed, Approach("fixed", ratio=0.0), X)
    assert torch.equal(plain(x), mixed(x))
    linear = _mlp()
    apply_approach(linear, Approach("fixed", ratio=1.0), X)
    w = torch.eye(64)  # with all activations identity the network is affine
    affine = linear(w.view(64, 1, 8, 8)) - linear(torch.zeros(1, 1, 8, 8))
    torch.testing.assert_close(linear(x) - linear(torch.zeros(1, 1, 8, 8)), x.flatten(1) @ affine)


def test_layerwise_schedule_sets_each_layer():
    model = _mlp()
    apply_approach(model, Approach("layerwise", ratio=0.0, schedule={0: 0.25, 2: 0.5}), X)
    stats = layer_stats(model)
    assert [1 - s["alpha_mean"] for s in stats] == [0.25, 0.0, 0.5]


def test_schedule_for_missing_layer_is_an_error():
    with pytest.raises(
        ConfigError, match="names layer 3, but the model has activation layers 0..2"
    ):
        apply_approach(_mlp(), Approach("layerwise", schedule={3: 0.5}), X)


def test_target_pattern_selects_sites():
    model = _mlp()
    apply_approach(model, Approach("gating", target="act1|act2"), X)
    assert isinstance(model.act0, nn.ReLU)
    assert isinstance(model.act1, GatedActivation) and isinstance(model.act2, GatedActivation)
    with pytest.raises(ConfigError, match="matches no activation"):
        apply_approach(_mlp(), Approach("fixed", target="head.*"), X)


def test_reapplying_wraps_the_original_nonlinearity():
    model = _mlp()
    apply_approach(model, Approach("gating"), X)
    apply_approach(model, Approach("fixed", ratio=0.5), X)
    assert isinstance(model.act0, MixedActivation) and isinstance(model.act0.act, nn.ReLU)


def test_compiled_equals_eager():
    model = _mlp()
    apply_approach(model, Approach("fixed", ratio=0.5), X)
    x = torch.randn(4, 1, 8, 8)
    compiled = torch.compile(model, backend="aot_eager")
    torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    model = _mlp()
    apply_approach(model, Approach("fixed", ratio=0.5), X)
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(model.cuda()(x.cuda()).cpu(), model.cpu()(x), rtol=1e-4, atol=1e-4)
