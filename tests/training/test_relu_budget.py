"""A gated run with a ReLU budget: checked before work, hardened to exactly the budget,
and the fingerprints of runs made without one unchanged."""

import pytest

from nonlinearity.data import load_raw, make_splits
from nonlinearity.errors import ConfigError
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.train import build_for, run_settings, train_run
from nonlinearity.training import GateConfig, TrainConfig
from tests.conftest import TINY_MEASURE, TINY_MODEL, TINY_TRAINING

BASE = {"l1": 0.5, "temperature_end": 0.2, "finetune_epochs": 1}
SPEC = RunSpec("gating", seed=0, variant="base")
SMALL = {"per_class": 12}  # digits32: 120 images


def test_runs_without_a_budget_keep_their_names():
    """Stored gated runs are not retrained because the budget fields were added."""
    train = TrainConfig.from_params(TINY_TRAINING)
    name, settings = run_settings("digits", None, TINY_MODEL, train, SPEC, GateConfig(**BASE))
    assert name == "digits_mlp_gated-base_s0_c822045"  # its name before the fields existed
    assert "relu_budget" not in settings["gating"]
    budget = GateConfig(**BASE, relu_budget=50, relu_budget_weight=1.0)
    other, settings = run_settings("digits", None, TINY_MODEL, train, SPEC, budget)
    assert other != name and settings["gating"]["relu_budget"] == 50


def test_budget_out_of_reach_stops_before_the_model_trains():
    gates = GateConfig(**BASE, relu_budget=97)  # 3 x 32 neurons
    with pytest.raises(ConfigError) as err:
        build_for((1, 8, 8), 10, TINY_MODEL, SPEC, gates)
    assert str(err.value) == (
        "train_gated.variants.base.relu_budget = 97 cannot be hit exactly on this model: it "
        "has 0..96 ReLUs per sample and a gated neuron costs 1 of them (its positions); "
        "nearest counts: 96"
    )


def test_gated_run_hardens_to_exactly_its_relu_budget(digits_splits):
    gates = {**BASE, "relu_budget": 41, "relu_budget_weight": 2.0}
    record = train_run(
        digits_splits, TINY_MODEL, {**TINY_TRAINING, "epochs": 3}, SPEC, gates, TINY_MEASURE
    )
    (hardened,) = [r for r in record.history if r["epoch"] == "hardened"]
    assert hardened["relu_budget"] == hardened["relu_count"] == 41
    assert sum(s["num_features"] * s["alpha_mean"] for s in hardened["gating"]) == 41
    assert record.meta["nonlinear_evals_per_sample"] == 41
    assert record.meta["config"]["gating"]["relu_budget"] == 41


def test_resnet18_backbone_on_digits32_hardens_to_its_budget():
    """The papers' setting in small: ResNet-18 backbone gated per channel, no hidden head."""
    splits = make_splits(load_raw("digits32", "unused"), 0.2, 0.2, seed=0, data_params=SMALL)
    model = {"name": "resnet18_head", "stem": "imagenet", "head_hidden": [], "target": "backbone"}
    gates = {"relu_budget": 12_000, "relu_budget_weight": 1.0, "finetune_epochs": 0}
    train = {**TINY_TRAINING, "epochs": 1, "batch_size": 32}
    record = train_run(splits, model, train, SPEC, gates, TINY_MEASURE, data_params=SMALL)
    hardened = record.history[-1]
    assert hardened["epoch"] == "hardened" and hardened["relu_count"] == 12_000
    assert record.meta["nonlinear_evals_per_sample"] == 12_000  # of 47,104 at 32x32
    assert record.meta["nonlinear_units"] < record.meta["activation_units"] == 3904
