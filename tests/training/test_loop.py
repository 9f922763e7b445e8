import pytest
import torch

from nonlinearity.data import to_device
from nonlinearity.errors import ConfigError
from nonlinearity.layers import Approach, apply_approach
from nonlinearity.models import MLPConfig, build_mlp
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import load_model, train_run
from nonlinearity.training import GateConfig, TrainConfig, epochs_budget
from nonlinearity.training.loop import _optimizer
from tests.conftest import LATENCY_KEYS, TINY_MEASURE, TINY_MODEL, TINY_TRAINING

RECORD_KEYS = {
    "epoch",
    "phase",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "gating",
}


def test_same_seed_same_history(digits_splits):
    spec = RunSpec("fixed", seed=1, ratio=0.5)
    r1 = train_run(digits_splits, TINY_MODEL, TINY_TRAINING, spec, None, TINY_MEASURE)
    r2 = train_run(digits_splits, TINY_MODEL, TINY_TRAINING, spec, None, TINY_MEASURE)
    assert r1.history == r2.history  # timings live apart, in r.timing
    assert [e["epoch"] for e in r1.timing["epochs"]] == [1, 2]
    r3 = train_run(
        digits_splits,
        TINY_MODEL,
        TINY_TRAINING,
        RunSpec("fixed", seed=2, ratio=0.5),
        None,
        TINY_MEASURE,
    )
    assert r1.history != r3.history


def test_fixed_run_records_and_meta(digits_splits, tmp_path):
    record = train_run(
        digits_splits,
        TINY_MODEL,
        {**TINY_TRAINING, "epochs": 3},
        RunSpec("fixed", ratio=0.25),
        None,
        TINY_MEASURE,
    )
    history, meta = record.history, record.meta
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert all(RECORD_KEYS <= set(r) for r in history)
    assert [s["alpha_mean"] for s in history[-1]["gating"]] == [0.75, 0.75, 0.75]
    assert history[-1]["val_acc"] > 0.8  # three epochs on digits learn it (chance is 0.1)
    assert meta["run_name"].startswith("digits_mlp_fixed_25_s0_c") and meta["status"] == "complete"
    assert meta["config"]["approach"] == "fixed" and meta["config"]["linear_ratio"] == 0.25
    assert meta["config"]["layer_ratios"] == [0.25, 0.25, 0.25]
    assert meta["config"]["epochs_budget"] == {"train": 3, "total": 3}
    assert meta["config"]["epochs_total"] == 3
    assert meta["param_counts"]["total_params"] == 64 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 10 + 10
    assert meta["approx_linear_flops"] == 2 * (64 * 32 + 2 * 32 * 32 + 32 * 10)
    assert meta["nonlinear_units"] == 3 * 24
    assert LATENCY_KEYS <= set(meta["latency"])
    assert meta["memory_mb"] > 0
    store = RunStore(tmp_path)
    store.save(record)
    model = load_model(store, record.name)  # rebuilt from settings + safetensors weights
    x = torch.randn(5, 1, 8, 8)
    assert [m.n_nonlinear for m in (model.act0, model.act1, model.act2)] == [24, 24, 24]
    assert next(model.parameters()).device.type == "cpu" and model(x).shape == (5, 10)


def test_gated_run_hardens_then_finetunes_within_the_same_epochs(digits_splits):
    """A gated run's budget is training.epochs, like a fixed run's: soft, harden, fine-tune."""
    gates = {"l1": 0.5, "temperature_end": 0.2, "harden_budget": 0.5, "finetune_epochs": 1}
    training = {**TINY_TRAINING, "epochs": 3}
    record = train_run(
        digits_splits,
        TINY_MODEL,
        training,
        RunSpec("gating", variant="b"),
        gates,
        TINY_MEASURE,
    )
    history, meta = record.history, record.meta
    assert [r["epoch"] for r in history] == [1, 2, "hardened", 3]
    assert [r["phase"] for r in history] == ["train", "train", "hardened", "finetune"]
    assert sum(isinstance(r["epoch"], int) for r in history) == training["epochs"]
    assert meta["config"]["epochs_budget"] == {"soft": 2, "finetune": 1, "total": 3}
    assert meta["config"]["epochs_total"] == 3
    assert meta["settings"]["epochs_budget"] == meta["config"]["epochs_budget"]
    # the temperature anneals over the soft epochs: it reaches temperature_end at the last
    assert history[1]["temperature"] == pytest.approx(0.2)
    hardened = history[2]
    assert [s["alpha_mean"] for s in hardened["gating"]] == [0.5, 0.5, 0.5]
    assert hardened["linear_ratio"] == 0.5
    assert meta["nonlinear_units"] == 48 and meta["config"]["approach"] == "gating"
    assert meta["run_name"].startswith("digits_mlp_gated-b_s0_c")


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


@pytest.mark.parametrize("finetune", [3, 4])
def test_a_gated_run_needs_a_soft_epoch(finetune):
    with pytest.raises(ConfigError) as info:
        epochs_budget(3, GateConfig(finetune_epochs=finetune), "train_gated.variants.base")
    assert str(info.value) == (
        f"train_gated.variants.base.finetune_epochs = {finetune} is invalid: a gated run trains "
        "training.epochs = 3 in all (soft epochs, then finetune_epochs after hardening) and "
        "needs a soft epoch; valid: 0..2"
    )
    assert epochs_budget(3, GateConfig(finetune_epochs=2)) == {"soft": 1, "finetune": 2, "total": 3}


def test_a_diverged_run_is_recorded_as_failed_with_its_epochs(digits_splits):
    """SGD at lr 0.5 diverges after a finite first epoch: status failed, the line names run,
    phase and epoch, and the history keeps the epochs up to the diverged one (nan: null)."""
    train = {"epochs": 6, "lr": 0.5, "optimizer": "sgd", "device": "cpu"}
    record = train_run(digits_splits, TINY_MODEL, train, RunSpec("fixed", ratio=0.5))
    assert record.status == "failed" and record.weights is None
    epoch = int(record.meta["error"].rsplit(" ", 1)[1])
    assert record.meta["error"] == (
        f"{record.name}: non-finite training loss (nan) at train epoch {epoch}"
    )
    assert epoch >= 2 and [r["epoch"] for r in record.history] == list(range(1, epoch + 1))
    assert all(r["train_loss"] > 0 for r in record.history[:-1])  # finite before it


@pytest.mark.parametrize(
    "train",
    [
        {"optimizer": "adam", "weight_decay": 1e-3},
        {"optimizer": "adamw", "weight_decay": 1e-2},
        {"optimizer": "sgd", "lr": 0.05, "weight_decay": 1e-3},
    ],
)
def test_the_loops_optimiser_is_torchs_default_arithmetic(train):
    """`fit`'s optimiser updates all tensors per operator call (foreach): bit for bit the
    per-tensor loop torch runs by default on CPU, the gate group and scheduler included."""
    cfg = TrainConfig.from_params({**train, "device": "cpu"})

    def trained(foreach: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        torch.manual_seed(0)
        model = build_mlp(MLPConfig(in_features=6, num_classes=3, hidden_sizes=[5]))
        apply_approach(model, Approach("gating", init_alpha=0.7), torch.zeros(2, 6))
        start = [p.detach().clone() for p in model.parameters()]
        opt = _optimizer(model, cfg, gate_lr=1e-2)
        assert len(opt.param_groups) == 2 and all(g["foreach"] for g in opt.param_groups)
        for group in opt.param_groups:
            group["foreach"] = foreach
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            x, y = torch.randn(8, 6, generator=gen), torch.randint(0, 3, (8,), generator=gen)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
        return start, [p.detach().clone() for p in model.parameters()]

    start, fast = trained(True)
    _, default = trained(False)
    assert all(torch.equal(a, b) for a, b in zip(fast, default, strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(start, fast, strict=True))  # all trained
