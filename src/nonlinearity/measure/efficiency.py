"""What a model costs: parameters, linear-layer FLOPs, nonlinear units, latency, memory."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Mapping, Sequence

import psutil
import torch
from torch import nn
from torch.utils import benchmark

from ..layers import MaskedActivation, find_activation_sites
from .flops import linear_flops
from .inputs import random_input


def param_counts(model: nn.Module) -> dict[str, int]:
    return {
        "total_params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def nonlinear_units(model: nn.Module, example: torch.Tensor) -> dict[str, int]:
    """Neurons (channels for conv) that still apply their nonlinearity, and all of them.

    `nonlinear_evals_per_sample` counts evaluations instead: a conv channel is evaluated at
    every position (the ReLU count of private-inference papers). A soft (unhardened) gate
    counts as nonlinear: it still computes f for every neuron.
    """
    sites = find_activation_sites(model, example[:1])
    units = [
        s.module.nonlinear_units if isinstance(s.module, MaskedActivation) else s.num_features
        for s in sites
    ]
    return {
        "nonlinear_units": int(sum(units)),
        "activation_units": sum(s.num_features for s in sites),
        "nonlinear_evals_per_sample": int(
            sum(u * s.elements // s.num_features for u, s in zip(units, sites, strict=True))
        ),
    }


@torch.no_grad()
def latency(
    model: nn.Module, example: torch.Tensor, min_run_time: float = 0.5, blocks: int = 20
) -> dict:
    """Forward latency of one batch, by `torch.utils.benchmark` (it synchronises CUDA).

    A warm-up picks the calls per block; then at least `blocks` blocks (5 when that
    many would take over 4 x `min_run_time`), and enough to fill `min_run_time`, are
    timed. Statistics are over the per-call mean of each block. A model timed alone says
    what it costs, not how it compares: ratios come from `interleaved_rounds`.
    """
    was_training = model.training
    model.eval()
    threads = torch.get_num_threads()
    timer = benchmark.Timer(
        stmt="model(x)", globals={"model": model, "x": example}, num_threads=threads
    )
    warm = timer.blocked_autorange(min_run_time=min_run_time / 10)
    number = warm.number_per_run
    per_block = warm.median * number
    # `blocks` blocks for the quantiles, but only 5 when the calls are slow (big conv nets)
    least = blocks if per_block * blocks <= 4 * min_run_time else 5
    n = max(least, math.ceil(min_run_time / max(per_block, 1e-9)))
    times = [timer.timeit(number).mean for _ in range(n)]
    model.train(was_training)
    return latency_stats(times, example.shape[0], example.device, threads, n * number, "isolated")


def latency_stats(
    seconds: Sequence[float],
    batch_size: int,
    device: torch.device | str,
    threads: int,
    calls_timed: int,
    method: str,
) -> dict:
    """A latency record from per-call times of timed blocks (s): mean, p50, p90, samples/s.

    `method` says how the blocks were timed: "isolated" (one model alone, `latency`; not
    for comparisons) or "interleaved" (in rounds with other models, `interleaved_rounds`).
    """
    times = [float(t) for t in seconds]
    p50 = statistics.median(times)  # of an even count: the mean of the middle two
    return {
        "mean_latency_s": statistics.fmean(times),
        "p50_latency_s": p50,
        "p90_latency_s": float(torch.quantile(torch.tensor(times, dtype=torch.float64), 0.9)),
        "samples_per_second": batch_size / p50,
        "batch_size": int(batch_size),
        "device": str(device),
        "threads": threads,
        "calls_timed": int(calls_timed),
        "blocks": len(times),
        "method": method,
    }


def memory_mb(device: torch.device | None = None) -> dict[str, float]:
    """Process RSS, and the CUDA peak allocation when on a GPU."""
    out = {"rss_mb": psutil.Process(os.getpid()).memory_info().rss / 2**20}
    if device is not None and device.type == "cuda":
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def efficiency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    device: torch.device,
    batch_size: int,
    min_run_time: float,
) -> Mapping:
    """The efficiency block of a run's meta.json."""
    gen = torch.Generator(device=device).manual_seed(0)
    x = random_input(model, input_shape, batch_size, device, gen)
    mem = memory_mb(device)
    return {
        "param_counts": param_counts(model),
        "approx_linear_flops": linear_flops(model, x),
        **nonlinear_units(model, x),
        "latency": latency(model, x, min_run_time),
        "memory_mb": mem["rss_mb"],
        "memory": mem,
    }
