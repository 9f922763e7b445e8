import pytest
import torch

from nonlinearity.data import to_device
from nonlinearity.errors import ConfigError
from nonlinearity.experiment import RunSpec, run_experiment
from nonlinearity.training import GateConfig, TrainConfig
from tests.conftest import LATENCY_KEYS, TINY_MEASURE, TINY_MODEL, TINY_TRAINING

RECORD_KEYS = {
    "epoch",
    "phase",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "epoch_time_s",
    "gating",
}


def _strip_times(history):
    return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in history]


def test_same_seed_same_history(digits_splits):
    spec = RunSpec("fixed", seed=1, ratio=0.5)
    _, h1, _ = run_experiment(digits_splits, TINY_MODEL, TINY_TRAINING, spec, None, TINY_MEASURE)
    _, h2, _ = run_experiment(digits_splits, TINY_MODEL, TINY_TRAINING, spec, None, TINY_MEASURE)
    assert _strip_times(h1) == _strip_times(h2)
    _, h3, _ = run_experiment(
        digits_splits,
        TINY_MODEL,
        TINY_TRAINING,
        RunSpec("fixed", seed=2, ratio=0.5),
        None,
        TINY_MEASURE,
    )
    assert _strip_times(h1) != _strip_times(h3)


def test_fixed_run_records_and_meta(digits_splits):
    model, history, meta = run_experiment(
        digits_splits,
        TINY_MODEL,
        {**TINY_TRAINING, "epochs": 3},
        RunSpec("fixed", ratio=0.25),
        None,
        TINY_MEASURE,
    )
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert all(RECORD_KEYS <= set(r) for r in history)
    assert [s["alpha_mean"] for s in history[-1]["gating"]] == [0.75, 0.75, 0.75]
    assert history[-1]["val_acc"] > 0.8  # three epochs on digits learn it (chance is 0.1)
    assert meta["run_name"] == "digits_mlp_fixed_25_s0"
    assert meta["config"]["approach"] == "fixed" and meta["config"]["linear_ratio"] == 0.25
    assert meta["param_counts"]["total_params"] == 64 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 10 + 10
    assert meta["approx_linear_flops"] == 2 * (64 * 32 + 2 * 32 * 32 + 32 * 10)
    assert meta["nonlinear_units"] == 3 * 24
    assert LATENCY_KEYS <= set(meta["latency"])
    assert meta["memory_mb"] > 0
    assert next(model.parameters()).device.type == "cpu"


def test_gated_run_hardens_then_finetunes(digits_splits):
    gates = {"l1": 0.5, "temperature_end": 0.2, "harden_budget": 0.5, "finetune_epochs": 1}
    _, history, meta = run_experiment(
        digits_splits,
        TINY_MODEL,
        TINY_TRAINING,
        RunSpec("gating", variant="b"),
        gates,
        TINY_MEASURE,
    )
    assert [r["epoch"] for r in history] == [1, 2, "hardened", 3]
    assert [r["phase"] for r in history] == ["train", "train", "hardened", "finetune"]
    hardened = history[2]
    assert [s["alpha_mean"] for s in hardened["gating"]] == [0.5, 0.5, 0.5]
    assert hardened["linear_ratio"] == 0.5
    assert meta["nonlinear_units"] == 48 and meta["config"]["approach"] == "gating"
    assert meta["run_name"] == "digits_mlp_gated-b_s0"


def test_data_on_device_is_normalised(digits_splits):
    d = to_device(digits_splits, "cpu")
    assert d.x_train.dtype == torch.float32
    assert d.x_train.mean().abs() < 1e-4 and (d.x_train.std() - 1).abs() < 1e-3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"epochs": 0}, "training.epochs = 0 is invalid"),
        ({"batch_size": -1}, "training.batch_size = -1 is invalid"),
        ({"optimizer": "lion"}, "valid: adam, adamw, sgd"),
        ({"device": "tpu"}, "training.device 'tpu' is unknown"),
        ({"epoch": 3}, "training.epoch is not a setting"),
    ],
)
def test_bad_training_params(params, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_params(params)


def test_bad_gate_params():
    with pytest.raises(ConfigError, match=r"init_alpha = 1.5 is invalid: .* in \(0, 1\)"):
        GateConfig.from_params({"init_alpha": 1.5})
    with pytest.raises(ConfigError, match=r"harden_budget = 2 is invalid: .* in \[0, 1\], or null"):
        GateConfig.from_params({"harden_budget": 2})
