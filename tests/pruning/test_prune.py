"""Decisions from statistics, and the surgery that applies them."""

import pandas as pd
import pytest
import torch

from nonlinearity.analysis import Thresholds, activation_stats
from nonlinearity.errors import ConfigError
from nonlinearity.layers import MixedActivation
from nonlinearity.models.mlp import MLPConfig, build_mlp
from nonlinearity.pruning import PruneConfig, apply_decisions, decide, linear_neighbours


def table(pos, neg, score, alpha=None, layer="act0"):
    n = len(pos)
    return pd.DataFrame(
        {
            "layer_idx": 0,
            "layer": layer,
            "neuron": range(n),
            "positive_frac": pos,
            "negative_frac": neg,
            "nonlinear_score": score,
            "pre_mean": 0.0,
            "pre_std": 1.0,
            "pre_abs_mean": 1.0,
            "alpha": alpha or [1.0] * n,
            "evaluations": 100,
        }
    )


def test_neuron_rule_dead_and_already_linear():
    t = table(
        pos=[0.99, 0.99, 0.01, 0.5, 0.5],
        neg=[0.01, 0.01, 0.99, 0.5, 0.5],
        score=[0.01, 0.10, 0.99, 0.3, 0.3],
        alpha=[1.0, 1.0, 1.0, 1.0, 0.0],
    )
    d = decide(t, Thresholds(), PruneConfig())
    assert list(d.decision) == ["linear", "nonlinear", "dead", "nonlinear", "linear"]
    assert d.reason[4] == "already linear" and d.reason[2] == "negative_frac > 0.95"
    kept = decide(t, Thresholds(), PruneConfig(remove_dead=False))
    assert kept.decision[2] == "nonlinear"


def test_budget_keeps_the_most_nonlinear():
    t = table(pos=[0.5] * 4, neg=[0.5] * 4, score=[0.1, 0.4, 0.3, 0.2])
    d = decide(t, Thresholds(), PruneConfig(budget=0.5))
    assert list(d.decision) == ["linear", "nonlinear", "nonlinear", "linear"]


def test_layer_level_linearises_the_whole_layer():
    t = table(pos=[0.99, 0.97, 0.96], neg=[0.01] * 3, score=[0.01, 0.02, 0.1])
    assert list(decide(t, Thresholds(), PruneConfig(level="layer")).decision) == ["linear"] * 3
    assert list(decide(t, Thresholds(), PruneConfig()).decision) == [
        "linear",
        "linear",
        "nonlinear",
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"level": "net"}, "pruning.level 'net' is unknown; valid: neuron, layer"),
        ({"budget": 2}, "pruning.budget = 2 is invalid"),
        ({"finetune_epochs": -1}, "pruning.finetune_epochs = -1 is invalid"),
        ({"epochs": 1}, "pruning.epochs is not a setting; valid: budget, finetune_epochs"),
        # set under activation_analysis, where they are used, never ignored here
        ({"thresholds": {}}, "pruning.thresholds is not a setting"),
    ],
)
def test_bad_pruning_params_one_line(params, message):
    with pytest.raises(ConfigError, match=message):
        PruneConfig.from_params(params)


def test_dead_neurons_are_removed_exactly_and_linear_ones_set():
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(4, 3, [6, 5])).eval()
    with torch.no_grad():  # neurons 1 and 4 of layer 0 are never positive: dead
        model.fc0.weight[[1, 4]] = 0.0
        model.fc0.bias[[1, 4]] = -1.0
    x = torch.randn(200, 4)
    neurons = activation_stats(model, x)
    d = decide(neurons, Thresholds(negative_frac=0.999), PruneConfig())  # never on: exact
    assert list(d[d.layer == "act0"].decision.eq("dead").to_numpy().nonzero()[0]) == [1, 4]
    ref = model(x)
    d.loc[d.decision == "linear", "decision"] = "nonlinear"  # only the dead ones go ...
    d.loc[(d.layer == "act1") & (d.neuron == 0), "decision"] = "linear"  # ... and this one
    done = apply_decisions(model, d, x[:2])
    assert done["act0"]["removed_dead"] == 2
    assert model.fc0.out_features == 4 and model.fc1.in_features == 4
    assert isinstance(model.act1, MixedActivation) and model.act1.nonlinear_mask.tolist() == [
        False,
        True,
        True,
        True,
        True,
    ]
    model.act1.set_mask(torch.ones(5, dtype=torch.bool))  # without the linearisation ...
    torch.testing.assert_close(model(x), ref)  # ... removing dead neurons changed nothing


def test_ffn_neighbours_of_a_bert_layer():
    from nonlinearity.models import build_model

    params = {
        "name": "transformer",
        "config": {
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 24,
            "vocab_size": 30,
            "max_position_embeddings": 16,
        },
    }
    model = build_model(params, (8,), 2, "text").eval()
    site = "model.bert.encoder.layer.0.intermediate.intermediate_act_fn"
    assert linear_neighbours(model, site) == (
        "model.bert.encoder.layer.0.intermediate.dense",
        "model.bert.encoder.layer.0.output.dense",
    )
    ids = torch.randint(1, 30, (4, 8))
    neurons = activation_stats(model, ids)
    d = decide(neurons, Thresholds(), PruneConfig())
    d["decision"] = ["dead" if i < 4 else "nonlinear" for i in d.neuron]
    apply_decisions(model, d, ids[:2])
    assert model.model.bert.encoder.layer[0].intermediate.dense.out_features == 20
    assert model(ids).shape == (4, 2)


def test_decisions_for_another_model_are_refused():
    model = build_mlp(MLPConfig(4, 3, [6])).eval()
    d = decide(table([0.5] * 5, [0.5] * 5, [0.3] * 5), Thresholds(), PruneConfig())
    with pytest.raises(ConfigError, match="run activation_analysis again"):
        apply_decisions(model, d, torch.zeros(2, 4))


def test_dead_neurons_that_stay_are_recorded_as_nonlinear():
    torch.manual_seed(0)
    conv = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(16, 3)
    ).eval()
    with torch.no_grad():  # channel 2 never fires: dead, but a conv channel is not removable
        conv[0].weight[2] = 0.0
        conv[0].bias[2] = -1.0
    x = torch.randn(50, 1, 4, 4)
    d = decide(activation_stats(conv, x), Thresholds(), PruneConfig())
    assert d.decision.tolist() == ["nonlinear", "nonlinear", "dead", "nonlinear"]
    done = apply_decisions(conv, d, x[:2])
    assert done["1"] == {"neurons_before": 4, "removed_dead": 0, "linear": 0, "nonlinear": 4}
    assert d.loc[2, ["decision", "reason"]].tolist() == ["nonlinear", "dead, not removable here"]

    mlp = build_mlp(MLPConfig(4, 3, [3, 5])).eval()
    with torch.no_grad():  # every neuron of layer 0 dead: the least dead one stays
        mlp.fc0.weight.zero_()
        mlp.fc0.bias.copy_(torch.tensor([-1.0, -1.0, -1.0]))
    neurons = activation_stats(mlp, torch.randn(50, 4))
    neurons.loc[neurons.layer == "act0", "negative_frac"] = [1.0, 0.97, 1.0]
    d = decide(neurons, Thresholds(), PruneConfig())
    done = apply_decisions(mlp, d, torch.randn(2, 4))
    assert done["act0"]["removed_dead"] == 2 and mlp.fc0.out_features == 1
    kept = d[(d.layer == "act0") & (d.neuron == 1)]
    assert kept[["decision", "reason"]].values.tolist() == [
        ["nonlinear", "dead, last of its layer"]
    ]
