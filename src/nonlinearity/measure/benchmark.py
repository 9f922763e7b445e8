"""Every efficiency figure of one trained model, measured one way."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..device import check_device, resolve_device
from ..params import parse, setting
from .efficiency import latency, memory_mb, nonlinear_units, param_counts
from .flops import flop_counts
from .inputs import random_input
from .speed import gpu_energy, train_throughput


@dataclass(frozen=True)
class MeasureConfig:
    """`measure`: the latency recorded with every trained run."""

    latency_batch_size: int = setting(256, ge=1)  # samples per timed forward pass
    min_run_time_s: float = setting(0.5, gt=0)  # seconds of timed calls per run


@dataclass
class BenchmarkConfig:
    """`benchmark`: every trained run of a sweep, measured the same way."""

    batch_sizes: list[int] = setting(factory=lambda: [1, 256], ge=1, nonempty=True)  # timed
    min_run_time_s: float = setting(0.3, gt=0)  # seconds of timed calls per batch size
    train_batch_size: int = setting(128, ge=1)  # samples per timed training step
    train_steps: int = setting(20, ge=1)  # Adam steps timed for training throughput
    compare_rounds: int = setting(7, ge=1)  # interleaved rounds for ratios to the baseline
    device: str = setting("auto", check=check_device)  # auto | cpu | cuda | cuda:N | mps

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> BenchmarkConfig:
        return parse(cls, params, "benchmark")

    def resolve_device(self) -> torch.device:
        return resolve_device(self.device)


def benchmark_model(
    model: nn.Module,
    input_shape: tuple[int, ...],
    num_classes: int,
    cfg: BenchmarkConfig,
) -> dict:
    """Latency per batch size, training throughput, FLOPs, parameters, nonlinear units, memory."""
    device = cfg.resolve_device()
    model = model.to(device).eval()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    gen = torch.Generator(device=device).manual_seed(0)
    by_batch = {}
    for bs in cfg.batch_sizes:
        x = random_input(model, input_shape, bs, device, gen)
        lat = latency(model, x, cfg.min_run_time_s)
        calls = max(100, math.ceil(1.0 / lat["p50_latency_s"]))
        with torch.no_grad():
            energy = gpu_energy(lambda x=x: model(x), calls, device)
        if energy["energy_j_per_call"] is not None:
            energy["energy_j_per_sample"] = energy["energy_j_per_call"] / bs
        by_batch[str(bs)] = {**lat, **energy}
    x1 = random_input(model, input_shape, 1, device, gen)
    return {
        "latency": by_batch,
        **flop_counts(model, x1),
        **param_counts(model),
        **nonlinear_units(model, x1),
        **train_throughput(
            model, input_shape, num_classes, device, cfg.train_batch_size, cfg.train_steps
        ),
        **memory_mb(device),
    }
