import copy

import pytest

from nonlinearity.errors import ConfigError
from nonlinearity.pipelines.sweep_config import sweep_params
from nonlinearity.run.spec import fixed_specs, gated_specs
from nonlinearity.run.validate import validate
from tests.conftest import DEFAULT_RUNS


@pytest.fixture
def params():
    return copy.deepcopy(sweep_params())


def test_default_sweep(params):
    keys = [s.key for s in fixed_specs(params["train_fixed"]) + gated_specs(params["train_gated"])]
    assert keys == DEFAULT_RUNS
    validate(params)


def test_patterns_and_seeds_multiply(params):
    specs = fixed_specs({"ratios": [0.5], "patterns": ["random", "structured"], "seeds": [0, 1]})
    assert [s.key for s in specs] == [
        "fixed_50_s0",
        "fixed_50_s1",
        "fixed-structured_50_s0",
        "fixed-structured_50_s1",
    ]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("dataset",), "cifar", "dataset 'cifar' is unknown; valid: digits, digits32, mnist"),
        (("model", "name"), "vit", "model 'vit' is unknown; valid: mlp"),
        (("model", "hidden_sizes"), [16, 0], "model.hidden_sizes"),
        (("train_fixed", "ratios"), [0.5, 1.5], "train_fixed.ratios: 1.5 is outside"),
        (("train_fixed", "ratios"), [-0.1], "train_fixed.ratios: -0.1 is outside"),
        (("train_fixed", "patterns"), ["zigzag"], "'zigzag' is unknown; valid: random, structured"),
        (
            ("train_fixed", "layerwise", "schedules", "bad"),
            {0: 0.1, 7: 0.5},
            "names layer 7, but the model has activation layers 0..2",
        ),
        (
            ("train_fixed", "layerwise", "schedules", "bad"),
            {0: 2.0},
            "schedules.bad: ratio 2.0 is outside",
        ),
        (("training", "epochs"), 0, "training.epochs = 0 is invalid: must be a positive integer"),
        (("training", "batch_size"), 0, "training.batch_size = 0 is invalid"),
        (
            ("train_gated", "variants", "base", "init_alpha"),
            0.0,
            "init_alpha = 0.0 is invalid",
        ),
        (
            ("train_gated", "variants", "base", "finetune_epochs"),
            -1,
            "finetune_epochs = -1 is invalid",
        ),
        (("measure", "latency_batch_size"), 0, "measure.latency_batch_size = 0 is invalid"),
        (("benchmark", "batch_sizes"), [1, 0], "benchmark.batch_sizes\\[1\\] = 0 is invalid"),
        (("benchmark", "train_steps"), 0, "benchmark.train_steps = 0 is invalid"),
        (("data", "val_fraction"), 1.0, "data.val_fraction = 1.0 is invalid: must be a number in"),
        (("data", "normalize"), "z", "data.normalize 'z' is unknown; valid: train, imagenet"),
        (("activation_analysis", "device"), "tpu", "activation_analysis.device 'tpu' is unknown"),
        (("reporting", "tolerance"), 1.0, "reporting.tolerance = 1.0 is invalid"),
        (("reporting", "tol"), 0.02, "reporting.tol is not a setting; valid: tolerance"),
    ],
)
def test_bad_input_one_line(params, path, value, message):
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=message) as info:
        validate(params)
    assert "\n" not in str(info.value)
