"""Typed params: one helper, one line per mistake, before any node runs."""

from pathlib import Path

import pytest
import torch
from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from nonlinearity.analysis import AnalysisConfig, Thresholds
from nonlinearity.data.splits import DataConfig, check_fractions, check_normalize
from nonlinearity.errors import ConfigError, check_settings
from nonlinearity.measure.benchmark import BenchmarkConfig, MeasureConfig
from nonlinearity.models import MLPParams, ResNetHeadParams, TransformerParams, check_model
from nonlinearity.params import ReportingConfig, check_params, parse
from nonlinearity.pruning import PruneConfig
from nonlinearity.training import GateConfig, TrainConfig

CONF = Path(__file__).resolve().parents[1] / "conf"
TOP = (
    "valid: activation_analysis, benchmark, data, dataset, measure, model, pruning, "
    "reporting, rerun, robustness, select, setups, train_fixed, train_gated, training"
)
TRAINING = (
    "valid: amp, batch_size, checkpoint_every, compile, device, epochs, eval_batch_size, "
    "lr, momentum, optimizer, scheduler, threads, weight_decay"
)


def conf_params(*items: str) -> dict:
    """conf/base parameters with `kedro run --params=<items>` on top, parsed as Kedro does."""
    runtime = OmegaConf.to_container(OmegaConf.from_dotlist(list(items)))
    loader = OmegaConfigLoader(
        str(CONF),
        base_env="base",
        default_run_env="local",
        merge_strategy={"parameters": "soft"},
        runtime_params=runtime,
    )
    return loader["parameters"]


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_defaults_are_valid_and_typed(cpu_only):
    typed = check_params(conf_params())
    assert isinstance(typed["data"], DataConfig)
    assert isinstance(typed["model"], MLPParams)
    assert isinstance(typed["training"], TrainConfig)
    assert typed["training"].checkpoint_every == 1 and typed["training"].batch_size == 64
    assert isinstance(typed["measure"], MeasureConfig)
    assert isinstance(typed["activation_analysis"], AnalysisConfig)
    assert isinstance(typed["activation_analysis"].thresholds, Thresholds)
    assert isinstance(typed["benchmark"], BenchmarkConfig)
    assert isinstance(typed["pruning"], PruneConfig)
    assert typed["reporting"] == ReportingConfig(0.01)
    assert typed["rerun"] is False


def test_every_setup_and_model_family_is_typed(cpu_only):
    families = {
        "sst2": TransformerParams,
        "imagenet": ResNetHeadParams,
        "adult": MLPParams,
    }
    for dataset, cls in families.items():
        typed = check_params(conf_params(f"dataset={dataset}", "rerun=true"))
        assert isinstance(typed["model"], cls) and typed["rerun"] is True
    data = check_params(conf_params("dataset=imagenet"))["data"]
    assert (data.classes, data.per_class, data.augment, data.normalize) == (
        100,
        260,
        False,
        "imagenet",
    )


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            ["trainng.epochs=1"],
            f"trainng is not a setting; did you mean 'training'? {TOP}",
        ),
        (["ratio=1.5"], f"ratio is not a setting; {TOP}"),
        (
            ["training.epoch=3"],
            f"training.epoch is not a setting; did you mean 'epochs'? {TRAINING}",
        ),
        (
            ["setups.mnist.training.epoch=3"],
            f"setups.mnist.training.epoch is not a setting; did you mean 'epochs'? {TRAINING}",
        ),
        (["training.amp=maybe"], "training.amp = 'maybe' is invalid: must be true or false"),
        (["training.lr=abc"], "training.lr = 'abc' is invalid: must be a finite number > 0"),
        (["training.lr=inf"], "training.lr = 'inf' is invalid: must be a finite number > 0"),
        (["training.lr=.inf"], "training.lr = inf is invalid: must be a finite number > 0"),
        (["training.lr=0"], "training.lr = 0 is invalid: must be a finite number > 0"),
        (["training.lr=null"], "training.lr = None is invalid: must be a finite number > 0"),
        (
            ["training.weight_decay=-1"],
            "training.weight_decay = -1 is invalid: must be a finite number >= 0",
        ),
        (
            ["training.momentum=1"],
            "training.momentum = 1 is invalid: must be a number in [0, 1)",
        ),
        (["training.epochs=true"], "training.epochs = True is invalid: must be a positive integer"),
        (["training.epochs=2.5"], "training.epochs = 2.5 is invalid: must be a positive integer"),
        (
            ["training.checkpoint_every=-1"],
            "training.checkpoint_every = -1 is invalid: must be an integer >= 0",
        ),
        (
            ["training.optimizer=lion"],
            "training.optimizer 'lion' is unknown; valid: adam, adamw, sgd",
        ),
        (
            ["training.device=cuda:3"],
            "training.device 'cuda:3' is not available here: no CUDA device; valid here: auto, cpu",
        ),
        (
            ["benchmark.device=cuda"],
            "benchmark.device 'cuda' is not available here: no CUDA device; valid here: auto, cpu",
        ),
        (
            ["activation_analysis.device=mps"],
            "activation_analysis.device 'mps' is not available here: no MPS device; "
            "valid here: auto, cpu",
        ),
        (
            ["training.device=tpu"],
            "training.device 'tpu' is unknown; valid: auto, cpu, cuda, cuda:N, mps",
        ),
        (
            ["train_gated.variants.base.init_alpha=abc"],
            "train_gated.variants.base.init_alpha = 'abc' is invalid: must be a number in (0, 1)",
        ),
        (
            ["train_gated.variants.base.init_alph=0.5"],
            "train_gated.variants.base.init_alph is not a setting; did you mean 'init_alpha'? "
            "valid: entropy, finetune_epochs, gate_lr, harden_budget, harden_threshold, "
            "init_alpha, l1, relu_budget, relu_budget_weight, sparsity_target, sparsity_weight, "
            "temperature_end, temperature_schedule, temperature_start",
        ),
        (
            ["activation_analysis.thresholds.positve_frac=0.9"],
            "activation_analysis.thresholds.positve_frac is not a setting; did you mean "
            "'positive_frac'? valid: influential, negative_frac, nonlinear_score, positive_frac",
        ),
        (
            ["activation_analysis.thresholds.negative_frac=1.5"],
            "activation_analysis.thresholds.negative_frac = 1.5 is invalid: "
            "must be a number in [0, 1]",
        ),
        (["rerun=maybe"], "rerun = 'maybe' is invalid: must be true or false"),
        (
            ["data.val_fraction=1"],
            "data.val_fraction = 1 is invalid: must be a number in (0, 1)",
        ),
        (["data.augment=1"], "data.augment = 1 is invalid: must be true or false, or null"),
        (
            ["data.classes=0"],
            "data.classes = 0 is invalid: must be a positive integer, or null",
        ),
        (
            ["data.max_len=32"],
            "data.max_len is not a setting; did you mean 'max_length'? valid: augment, "
            "classes, image_size, max_length, normalize, per_class, split_seed, test_fraction, "
            "val_fraction",
        ),
        (
            ["measure.min_run_time_s=0"],
            "measure.min_run_time_s = 0 is invalid: must be a finite number > 0",
        ),
        (
            ["benchmark.batch_sizes=[1,0]"],
            "benchmark.batch_sizes[1] = 0 is invalid: must be a positive integer",
        ),
        (
            ["benchmark.batch_sizes=[]"],
            "benchmark.batch_sizes = [] is invalid: must be a non-empty list",
        ),
        (
            ["pruning.budget=1.5"],
            "pruning.budget = 1.5 is invalid: must be a number in [0, 1], or null",
        ),
        (
            ["reporting.tolerance=1"],
            "reporting.tolerance = 1 is invalid: must be a number in [0, 1)",
        ),
        (
            ["model.hidden_size=[8]"],
            "model.hidden_size is not a setting; did you mean 'hidden_sizes'? "
            "valid: activation, dropout, hidden_sizes, name, target",
        ),
        (
            ["model.activation=tanh"],
            "model.activation 'tanh' is unknown; valid: relu, gelu, silu",
        ),
        (
            ["dataset=sst2", "model.dropout=0.1"],
            "model.dropout is not a setting; valid: attention, checkpoint, config, name, target, "
            "tokenizer",
        ),
        (
            ["train_fixed.ratio=0.5"],
            "train_fixed.ratio is not a setting; did you mean 'ratios'? "
            "valid: layerwise, patterns, ratios, seeds",
        ),
    ],
)
def test_bad_params_one_line(cpu_only, items, message):
    with pytest.raises(ConfigError) as info:
        check_params(conf_params(*items))
    assert str(info.value) == message


def test_device_beyond_the_gpus_here(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    TrainConfig.from_params({"device": "cuda:1"})
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_params({"device": "cuda:3"})
    assert str(info.value) == (
        "training.device 'cuda:3' is not available here: 2 CUDA devices (cuda:0..cuda:1); "
        "valid here: auto, cpu, cuda, cuda:0, cuda:1"
    )


def test_none_only_where_declared():
    gates = GateConfig.from_params({"sparsity_target": None, "harden_budget": None}, "g")
    assert gates.sparsity_target is None and gates.harden_budget is None
    assert PruneConfig.from_params({"budget": None, "lr": None}).lr is None
    assert DataConfig.from_params({"classes": None, "augment": None}).classes is None
    with pytest.raises(ConfigError, match=r"^g\.init_alpha = None is invalid: must be a number"):
        GateConfig.from_params({"init_alpha": None}, "g")
    with pytest.raises(ConfigError, match=r"^pruning\.remove_dead = None is invalid"):
        PruneConfig.from_params({"remove_dead": None})


def test_values_are_converted_and_sections_default():
    cfg = TrainConfig.from_params({"lr": 1, "weight_decay": 0})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and isinstance(cfg.weight_decay, float)
    assert TrainConfig.from_params(None) == TrainConfig()
    assert AnalysisConfig.from_params({"thresholds": None}).thresholds == Thresholds()
    t = AnalysisConfig.from_params({"thresholds": {"influential": 0.3}}).thresholds
    assert t == Thresholds(influential=0.3)
    assert parse(ReportingConfig, {"tolerance": 0}, "reporting").tolerance == 0.0
    with pytest.raises(ConfigError, match=r"^training = 3 is invalid: must be a mapping"):
        TrainConfig.from_params(3)


def test_old_entry_points_are_as_strict():
    with pytest.raises(ConfigError, match=r"^data\.test_fraction = True is invalid"):
        check_fractions(0.1, True)
    with pytest.raises(ConfigError, match=r"^data\.normalize 'z' is unknown"):
        check_normalize("z")
    with pytest.raises(ConfigError) as info:
        check_settings({"tolerence": 0.1}, ["tolerance"], "reporting")
    assert str(info.value) == (
        "reporting.tolerence is not a setting; did you mean 'tolerance'? valid: tolerance"
    )
    with pytest.raises(ConfigError) as info:
        check_model({"name": "mlp", "hidden_sizes": [8, 0]}, "image", "digits")
    assert str(info.value) == "model.hidden_sizes[1] = 0 is invalid: must be a positive integer"
