"""Every efficiency figure of one trained model, measured one way."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..device import check_device, resolve_device
from ..errors import ConfigError, check_settings
from .efficiency import latency, memory_mb, nonlinear_units, param_counts
from .flops import flop_counts
from .inputs import random_input
from .speed import gpu_energy, train_throughput


@dataclass
class BenchmarkConfig:
    batch_sizes: list[int] = field(default_factory=lambda: [1, 256])  # inference batches timed
    min_run_time_s: float = 0.3  # seconds of timed calls per batch size
    train_batch_size: int = 128
    train_steps: int = 20  # Adam steps timed for training throughput
    compare_rounds: int = 7  # interleaved rounds for latency ratios against the baseline
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> BenchmarkConfig:
        cfg = cls(**check_settings(params, cls.__dataclass_fields__, "benchmark"))
        sizes = cfg.batch_sizes
        if not sizes or any(not isinstance(b, int) or isinstance(b, bool) or b <= 0 for b in sizes):
            raise ConfigError(
                f"benchmark.batch_sizes {sizes!r} must be a list of positive integers"
            )
        for name in ("train_batch_size", "train_steps", "compare_rounds"):
            v = getattr(cfg, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(
                    f"benchmark.{name} = {v!r} is invalid: must be a positive integer"
                )
        if not float(cfg.min_run_time_s) > 0:
            raise ConfigError("benchmark.min_run_time_s must be positive")
        check_device(cfg.device, "benchmark.device")
        return cfg

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
