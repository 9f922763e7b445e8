"""Activation statistics: exact on hand-built inputs."""

import pandas as pd
import pytest
import torch
from torch import nn

from nonlinearity.analysis import Thresholds, activation_stats, layer_table
from nonlinearity.errors import ConfigError
from nonlinearity.layers import MixedActivation


def identity_mlp():
    """x -> Linear(eye) -> ReLU -> Linear(eye): the ReLU sees the input itself."""
    first, last = nn.Linear(3, 3), nn.Linear(3, 3)
    with torch.no_grad():
        for lin in (first, last):
            lin.weight.copy_(torch.eye(3))
            lin.bias.zero_()
    return nn.Sequential(first, nn.ReLU(), last)


def test_relu_statistics_per_neuron():
    x = torch.tensor(
        [
            [1.0, -1.0, 2.0],
            [3.0, -2.0, -2.0],
            [2.0, -3.0, 0.0],
            [2.0, 1.0, 4.0],
        ]
    )
    neurons = activation_stats(identity_mlp(), x, batch_size=3)  # two batches
    n = neurons.set_index("neuron")
    assert list(n["positive_frac"]) == [1.0, 0.25, 0.5]
    assert list(n["negative_frac"]) == [0.0, 0.75, 0.25]
    # |relu(z) - z| / |z| summed: neuron 1: 6 / 7; neuron 2: 2 / 8
    assert n.loc[1, "nonlinear_score"] == pytest.approx(6 / 7)
    assert n.loc[2, "nonlinear_score"] == pytest.approx(2 / 8)
    assert n.loc[0, "nonlinear_score"] == 0.0
    assert n.loc[1, "pre_mean"] == pytest.approx(-1.25)
    assert n.loc[2, "pre_std"] == pytest.approx(torch.tensor([2.0, -2, 0, 4]).std(unbiased=False))
    assert list(n["alpha"]) == [1.0, 1.0, 1.0] and list(n["evaluations"]) == [4, 4, 4]

    layers = layer_table(neurons)
    row = layers.iloc[0]
    assert row["pos_frac"] == pytest.approx((1 + 0.25 + 0.5) / 3)
    assert row["nonlinear_score"] == pytest.approx((0 + 6 + 2) / (8 + 7 + 8))  # all together
    assert row["linear_candidates"] == 1 and row["dead_candidates"] == 0
    assert not row["linearized"]


def test_linearised_neurons_still_show_what_their_relu_would_do():
    model = identity_mlp()
    act = MixedActivation(3, nn.ReLU())
    act.set_mask(torch.tensor([True, False, False]))
    model[1] = act
    x = torch.tensor([[1.0, -1.0, -2.0], [1.0, -1.0, -2.0]])
    n = activation_stats(model, x)
    assert list(n["alpha"]) == [1.0, 0.0, 0.0]
    assert list(n["nonlinear_score"]) == [0.0, 1.0, 1.0]
    assert list(n["negative_frac"]) == [0.0, 1.0, 1.0]


def test_conv_statistics_are_per_channel():
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten())
    x = torch.arange(1.0, 5.0).view(1, 1, 2, 2)  # all positive
    n = activation_stats(model, x)
    assert list(n["positive_frac"]) == [1.0, 0.0]
    assert list(n["evaluations"]) == [4, 4]  # every position


def test_padding_tokens_are_not_counted():
    class Tokens(nn.Module):
        pad_token_id = 0

        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(4, 2)
            with torch.no_grad():
                self.emb.weight.copy_(torch.tensor([[-5.0, -5], [1, 1], [2, -1], [3, 3]]))
            self.act = nn.GELU()

        def forward(self, ids):
            return self.act(self.emb(ids)).mean(1)

    ids = torch.tensor([[1, 2, 0, 0], [3, 0, 0, 0]])
    n = activation_stats(Tokens(), ids)
    assert list(n["evaluations"]) == [3, 3]  # 3 real tokens, 5 pads left out
    assert list(n["positive_frac"]) == [1.0, pytest.approx(2 / 3)]


def test_layer_rule_and_dead_neurons():
    neurons = pd.DataFrame(
        {
            "layer_idx": [0, 0, 1, 1],
            "layer": ["a", "a", "b", "b"],
            "neuron": [0, 1, 0, 1],
            "positive_frac": [0.99, 0.98, 0.01, 0.5],
            "negative_frac": [0.01, 0.02, 0.99, 0.5],
            "nonlinear_score": [0.01, 0.02, 0.99, 0.4],
            "pre_mean": [1.0, 1.0, -1.0, 0.0],
            "pre_std": [1.0, 1.0, 1.0, 1.0],
            "pre_abs_mean": [1.0, 1.0, 1.0, 1.0],
            "alpha": [1.0, 1.0, 1.0, 1.0],
            "evaluations": [10, 10, 10, 10],
        }
    )
    layers = layer_table(neurons, Thresholds()).set_index("layer")
    assert layers.loc["a", "linearized"] and not layers.loc["b", "linearized"]
    assert layers.loc["b", "dead_candidates"] == 1 and layers.loc["b", "influential_neurons"] == 2


def test_thresholds_are_checked():
    with pytest.raises(ConfigError, match="thresholds.positive_frac = 1.5 is invalid"):
        Thresholds.from_params({"positive_frac": 1.5})
    with pytest.raises(
        ConfigError, match="thresholds.pos is not a setting; valid: influential, negative_frac"
    ):
        Thresholds.from_params({"pos": 0.5})


def test_the_sample_says_how_representative_it_is(digits_splits):
    """activation_stats.json: the sample's size and class counts beside its split's."""
    from nonlinearity.analysis import AnalysisConfig, analyse
    from nonlinearity.models import build_model

    model = build_model({"name": "mlp", "hidden_sizes": [8]}, (1, 8, 8), 10)
    cfg = AnalysisConfig(split="train", samples=100)
    _, _, stats = analyse(model, digits_splits, cfg, "run")
    sample, split = stats["sample_class_counts"], stats["split_class_counts"]
    assert stats["samples"] == sum(sample.values()) == 100
    assert stats["split_samples"] == sum(split.values()) == len(digits_splits.y_train) == 1293
    assert list(sample) == list(split) == [str(c) for c in range(10)]
    assert split == {str(c): int((digits_splits.y_train == c).sum()) for c in range(10)}
    assert sample == {str(c): int((digits_splits.y_train[:100] == c).sum()) for c in range(10)}
