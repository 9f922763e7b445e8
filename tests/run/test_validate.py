import copy

import pytest
import torch

from nonlinearity.errors import ConfigError
from nonlinearity.pipelines.sweep_config import sweep_params
from nonlinearity.run.spec import RunSpec, fixed_specs, gated_specs
from nonlinearity.run.train import build_for
from nonlinearity.run.validate import collapsed_runs, validate
from tests.conftest import DEFAULT_RUNS, TINY_MODEL


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


def test_a_group_without_seeds_defaults_to_seed_0_and_empty_seeds_is_no_run():
    schedules = {"schedules": {"ramp": [0.2, 0.8]}}
    specs = fixed_specs({"ratios": [0.5], "layerwise": schedules})
    assert [s.key for s in specs] == ["fixed_50_s0", "layerwise-ramp_s0"]
    specs = fixed_specs({"ratios": [0.5], "seeds": [1], "layerwise": {**schedules, "seeds": []}})
    assert [s.key for s in specs] == ["fixed_50_s1"]
    assert gated_specs({"variants": {"base": {}}, "seeds": []}) == []


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
        (("reporting", "tol"), 0.02, "reporting.tol is not a setting; valid: .*tolerance"),
        (
            ("train_gated", "variants", "base", "finetune_epochs"),
            20,
            "train_gated.variants.base.finetune_epochs = 20 is invalid: a gated run trains "
            "training.epochs = 20 in all .* valid: 0..19",
        ),
        (("train_gated", "matched_fixed"), "yes", "train_gated.matched_fixed = 'yes' is invalid"),
        (("pruning", "sources"), [], "pruning.sources = \\[\\] is invalid: must be a non-empty"),
        (("pruning", "sources"), ["fixed_0_s*", 3], "pruning.sources\\[1\\] = 3 is invalid"),
        (
            ("pruning", "sources"),
            ["fixed_0_s*|gated-*"],
            "pruning.sources\\[0\\] = 'fixed_0_s\\*\\|gated-\\*' is invalid: must be one fnmatch",
        ),
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


def test_default_sweep_trains_every_run(params):
    assert collapsed_runs(params).runs == {}  # three activation layers: the schedules differ


def test_schedules_on_a_one_layer_model_collapse(params):
    """digits32's ResNet-18 head has one activation layer (head_hidden [512]): both default
    schedules are fixed 50 % there (the mean of their ramps), so neither is trained."""
    params["dataset"] = "digits32"
    params["model"] = params["setups"]["digits32"]["model"]
    params["data"] = params["setups"]["digits32"]["data"]
    collapsed = collapsed_runs(params)
    assert collapsed.layers == 1
    assert sorted(collapsed.runs) == sorted(
        f"layerwise-{n}_s{s}" for n in ("low_to_high", "high_to_low") for s in (0, 1, 2)
    )
    assert collapsed.warning() == (
        "layerwise low_to_high, high_to_low: digits32 · resnet18_head has 1 activation layer, "
        "so each is fixed 50 % (the same masks): not trained"
    )


def test_a_flat_schedule_collapses_on_any_depth(params):
    params["train_fixed"]["layerwise"]["schedules"]["flat"] = [0.3, 0.3]
    params["train_fixed"]["layerwise"]["schedules"]["named"] = {0: 0.6, 1: 0.6, 2: 0.6}
    collapsed = collapsed_runs(params)
    assert {k for k in collapsed.runs} == {
        f"layerwise-{n}_s{s}" for n in ("flat", "named") for s in (0, 1, 2)
    }
    assert collapsed.warning() == (
        "layerwise flat, named: on digits · mlp each gives all 3 activation layers one ratio, "
        "so flat: fixed 30 %; named: fixed 60 % (the same masks): not trained"
    )


def _masks(spec):
    model, _ = build_for((1, 8, 8), 10, TINY_MODEL, spec, None)
    return [m.nonlinear_mask for m in (model.act0, model.act1, model.act2)]


@pytest.mark.parametrize("seed", [0, 3])
def test_a_uniform_schedule_has_the_masks_of_the_fixed_run(seed):
    """Layer i's mask is linear_mask(C_i, ratio_i, pattern, seed + i) for both approaches,
    and the weights are seeded alike: the same model, so the same run."""
    fixed = _masks(RunSpec("fixed", seed=seed, ratio=0.5))
    for schedule in [(0.5, 0.5), {0: 0.5, 1: 0.5, 2: 0.5}, (0.2, 0.8)]:
        layerwise = _masks(RunSpec("layerwise", seed=seed, schedule_name="s", schedule=schedule))
        same = all(torch.equal(a, b) for a, b in zip(fixed, layerwise, strict=True))
        assert same == (schedule != (0.2, 0.8))
