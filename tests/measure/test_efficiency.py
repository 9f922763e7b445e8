import statistics

import pytest
import torch
from torch import nn
from torch.utils import benchmark

from nonlinearity.layers import Approach, apply_approach
from nonlinearity.measure import (
    flop_counts,
    gpu_energy,
    interleaved_rounds,
    latency,
    latency_stats,
    linear_flops,
    nonlinear_units,
    param_counts,
    train_throughput,
)
from nonlinearity.models import MLPConfig, build_mlp


def test_linear_flops_mlp_and_conv():
    mlp = build_mlp(MLPConfig(in_features=784, num_classes=10, hidden_sizes=[512, 512, 512]))
    x = torch.zeros(4, 1, 28, 28)
    assert linear_flops(mlp, x) == 2 * (784 * 512 + 512 * 512 * 2 + 512 * 10)
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    assert linear_flops(conv, torch.zeros(2, 3, 5, 5)) == 2 * (3 * 9) * 8 * 25


def test_nonlinear_units_follow_masks():
    mlp = build_mlp(MLPConfig(in_features=64, num_classes=10, hidden_sizes=[40, 20]))
    x = torch.zeros(2, 1, 8, 8)
    assert nonlinear_units(mlp, x) == {
        "nonlinear_units": 60,
        "activation_units": 60,
        "nonlinear_evals_per_sample": 60,
    }
    apply_approach(mlp, Approach("fixed", ratio=0.25), x)
    assert nonlinear_units(mlp, x)["nonlinear_units"] == 30 + 15
    assert param_counts(mlp)["total_params"] == 64 * 40 + 40 + 40 * 20 + 20 + 20 * 10 + 10


def test_soft_gates_count_as_nonlinear_until_hardened():
    mlp = build_mlp(MLPConfig(in_features=64, num_classes=10, hidden_sizes=[10]))
    x = torch.zeros(2, 1, 8, 8)
    apply_approach(mlp, Approach("gating"), x)
    assert nonlinear_units(mlp, x)["nonlinear_units"] == 10
    mlp.act0.harden(budget=3)
    assert nonlinear_units(mlp, x)["nonlinear_units"] == 3


def test_latency_statistics_are_consistent(monkeypatch):
    """The figures are those of the blocks timed, whatever the machine's speed.

    How many blocks depends on timing (`blocks` of them, 5 when those would be slow),
    so the test spies on the timed blocks instead of assuming a count.
    """
    timed = []  # (calls, seconds per call) of each timed block
    timeit = benchmark.Timer.timeit

    def spy(self, number=1000000):
        m = timeit(self, number)
        timed.append((number, m.mean))
        return m

    monkeypatch.setattr(benchmark.Timer, "timeit", spy)
    mlp = build_mlp(MLPConfig(in_features=64, num_classes=10, hidden_sizes=[32]))
    out = latency(mlp, torch.randn(16, 1, 8, 8), min_run_time=0.05, blocks=10)
    calls, times = zip(*timed, strict=True)
    assert len(timed) >= 5  # latency()'s floor
    assert len(set(calls)) == 1 and out["calls_timed"] == sum(calls)
    assert out["batch_size"] == 16 and out["device"] == "cpu" and out["method"] == "isolated"
    assert out["mean_latency_s"] == pytest.approx(statistics.fmean(times), rel=1e-12)
    assert 0 < min(times) <= out["p50_latency_s"] <= out["p90_latency_s"] <= max(times)
    assert out["samples_per_second"] == 16 / out["p50_latency_s"]
    assert mlp.training  # mode restored


def test_conv_nonlinear_evals_count_every_position():
    conv = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 25, 4)
    )
    x = torch.zeros(2, 3, 5, 5)
    apply_approach(conv, Approach("fixed", ratio=0.25), x)
    counts = nonlinear_units(conv, x)
    assert counts["nonlinear_units"] == 6 and counts["activation_units"] == 8
    assert counts["nonlinear_evals_per_sample"] == 6 * 25


def test_flop_counter_matches_formula_and_splits_linear():
    mlp = build_mlp(MLPConfig(in_features=784, num_classes=10, hidden_sizes=[512, 512, 512]))
    counts = flop_counts(mlp, torch.zeros(1, 1, 28, 28))
    expected = 2 * (784 * 512 + 512 * 512 * 2 + 512 * 10)
    assert counts == {"flops_total": expected, "flops_linear": expected}


def test_train_throughput_copies_the_model():
    mlp = build_mlp(MLPConfig(in_features=64, num_classes=10, hidden_sizes=[32]))
    before = [p.clone() for p in mlp.parameters()]
    out = train_throughput(mlp, (1, 8, 8), 10, torch.device("cpu"), batch_size=16, steps=3)
    assert out["train_samples_per_second"] > 0 and out["train_steps"] == 3
    assert all(torch.equal(a, b) for a, b in zip(before, mlp.parameters(), strict=True))  # a copy


class Counted(nn.Module):
    """Counts its forward calls, and the CPU threads torch had for each."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.threads = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.threads.add(torch.get_num_threads())
        return x * 2


def test_interleaved_rounds_take_turns_after_warm_up(monkeypatch):
    """Two warm-up blocks per model first; then every round times each model once, and
    the recorded seconds are exactly those of each model's blocks, in round order."""
    models = {"a": Counted().eval(), "b": Counted(), ("c", True): Counted().train()}
    timed = []  # (model, calls, seconds per call) of each timed block
    timeit = benchmark.Timer.timeit

    def spy(self, number=1000000):
        before = {k: m.calls for k, m in models.items()}
        m = timeit(self, number)
        (key,) = [k for k, mod in models.items() if mod.calls != before[k]]
        timed.append((key, number, m.mean))
        return m

    monkeypatch.setattr(benchmark.Timer, "timeit", spy)
    threads = torch.get_num_threads()
    out = interleaved_rounds(models, torch.zeros(4, 3), rounds=5, block_s=0.002, threads=1)
    warm, rounds = timed[: 2 * len(models)], timed[2 * len(models) :]
    assert sorted(map(str, (k for k, _, _ in warm))) == sorted(map(str, [*models, *models]))
    assert len(rounds) == 5 * len(models)
    for i in range(5):  # each round: every model once, in a shuffled order
        assert {k for k, _, _ in rounds[3 * i : 3 * i + 3]} == set(models)
    for k in models:
        mine = [(n, s) for key, n, s in rounds if key == k]
        assert out.seconds[k] == [s for _, s in mine] and len(out.seconds[k]) == 5
        assert {n for n, _ in mine} == {out.calls_per_block[k]} and out.calls_per_block[k] >= 1
    assert not models["a"].training and models[("c", True)].training  # modes restored
    assert all(m.threads == {1} for m in models.values())  # timed with `threads`
    assert torch.get_num_threads() == threads  # and torch's own restored


def test_latency_stats_of_blocks():
    out = latency_stats([4e-3, 1e-3, 3e-3, 2e-3], 8, "cpu", 2, 40, "interleaved")
    assert out == {
        "mean_latency_s": pytest.approx(2.5e-3, rel=1e-12),
        "p50_latency_s": pytest.approx(2.5e-3, rel=1e-12),  # the mean of the middle two
        "p90_latency_s": pytest.approx(3.7e-3, rel=1e-12),
        "samples_per_second": pytest.approx(8 / 2.5e-3, rel=1e-12),
        "batch_size": 8,
        "device": "cpu",
        "threads": 2,
        "calls_timed": 40,
        "blocks": 4,
        "method": "interleaved",
    }


def test_energy_is_absent_without_a_gpu():
    out = gpu_energy(lambda: None, 10, torch.device("cpu"))
    assert out == {"energy_j_per_call": None, "energy_note": "no NVIDIA GPU"}
