"""Every efficiency figure of trained models, measured one way.

Latency comes only from interleaved rounds (`interleaved_rounds`): the models of one
input shape take turns, round after round, so each round's times are paired across
models. `benchmark_model` gives the rest of what a model costs.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..device import check_device, resolve_device
from ..layers.layout import nonlinear_first
from ..params import parse, setting
from .efficiency import latency_stats, memory_mb, nonlinear_units, param_counts
from .flops import flop_counts
from .inputs import random_input
from .speed import Rounds, gpu_energy, interleaved_rounds, train_throughput


@dataclass(frozen=True)
class MeasureConfig:
    """`measure`: the latency recorded with every trained run."""

    latency_batch_size: int = setting(256, ge=1)  # samples per timed forward pass
    min_run_time_s: float = setting(0.5, gt=0)  # seconds of timed calls per run


@dataclass
class BenchmarkConfig:
    """`benchmark`: every trained run of a sweep, measured the same way."""

    batch_sizes: list[int] = setting(factory=lambda: [1, 256], ge=1, nonempty=True)  # timed
    compare_rounds: int = setting(10, ge=2)  # interleaved rounds: the n of the intervals
    min_run_time_s: float = setting(0.1, gt=0)  # timed s per model and batch size, all rounds
    train_batch_size: int = setting(128, ge=1)  # samples per timed training step
    train_steps: int = setting(10, ge=1)  # Adam steps timed for training throughput
    threads: int | None = setting(1, ge=1)  # CPU threads while timing; None: torch's default
    device: str = setting("auto", check=check_device)  # auto | cpu | cuda | cuda:N | mps

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> BenchmarkConfig:
        return parse(cls, params, "benchmark")

    def resolve_device(self) -> torch.device:
        return resolve_device(self.device)

    @property
    def block_s(self) -> float:
        """Seconds of one model's block in one round."""
        return self.min_run_time_s / self.compare_rounds

    @property
    def timing_threads(self) -> int:
        return self.threads or torch.get_num_threads()


def time_in_rounds(
    models: Mapping[Hashable, nn.Module], input_shape: tuple[int, ...], cfg: BenchmarkConfig
) -> dict[int, Rounds]:
    """Models of one input shape timed together in interleaved rounds, per batch size.

    The input is random (`random_input`, seeded; token ids for text models), the same
    tensor for every model of a batch size. Each model is timed in its inference layout,
    a copy with every layer's nonlinear units first (`layers.layout.nonlinear_first`:
    the same function; ReLU models are timed as stored).
    """
    device = cfg.resolve_device()
    models = {k: nonlinear_first(m).to(device) for k, m in models.items()}
    gen = torch.Generator(device=device).manual_seed(0)
    first = next(iter(models.values()))
    out = {}
    for bs in cfg.batch_sizes:
        x = random_input(first, input_shape, bs, device, gen)
        out[bs] = interleaved_rounds(
            models, x, cfg.compare_rounds, cfg.block_s, threads=cfg.timing_threads
        )
    return out


def rounds_latency(rounds: Rounds, key: Hashable, batch_size: int, device, threads: int) -> dict:
    """One model's latency record (`latency_stats`) from its interleaved rounds."""
    return latency_stats(
        rounds.seconds[key],
        batch_size,
        device,
        threads,
        rounds.calls_per_block[key] * len(rounds.seconds[key]),
        "interleaved",
    )


def benchmark_model(
    model: nn.Module,
    input_shape: tuple[int, ...],
    num_classes: int,
    cfg: BenchmarkConfig,
    seconds_per_call: Mapping[int, float] | None = None,
) -> dict:
    """What one model costs apart from latency: FLOPs, parameters, nonlinear units,
    training throughput, memory (the CUDA peak of a forward pass at the largest batch
    size) and, on NVIDIA GPUs, energy per batch size (`seconds_per_call` sets how many
    calls fill about a second)."""
    device = cfg.resolve_device()
    model = model.to(device).eval()
    gen = torch.Generator(device=device).manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad():
        model(random_input(model, input_shape, max(cfg.batch_sizes), device, gen))
    mem = memory_mb(device)
    energy = {}
    for bs, per_call in (seconds_per_call or {}).items():
        x = random_input(model, input_shape, bs, device, gen)
        with torch.no_grad():
            e = gpu_energy(lambda x=x: model(x), max(100, math.ceil(1.0 / per_call)), device)
        if e["energy_j_per_call"] is not None:
            e["energy_j_per_sample"] = e["energy_j_per_call"] / bs
        energy[str(bs)] = e
    x1 = random_input(model, input_shape, 1, device, gen)
    return {
        **flop_counts(model, x1),
        **param_counts(model),
        **nonlinear_units(model, x1),
        **train_throughput(
            model,
            input_shape,
            num_classes,
            device,
            cfg.train_batch_size,
            cfg.train_steps,
            cfg.timing_threads,
        ),
        **mem,
        "energy": energy,
    }
