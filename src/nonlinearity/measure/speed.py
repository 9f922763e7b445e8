"""Training throughput, interleaved latency comparison and GPU energy.

All timing goes through `torch.utils.benchmark.Timer`, which synchronises CUDA
around each timed block.
"""

from __future__ import annotations

import copy
import statistics

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import benchmark

from .inputs import random_input


def _timer(stmt: str, **env) -> benchmark.Timer:
    return benchmark.Timer(stmt, globals=env, num_threads=torch.get_num_threads())


def train_throughput(
    model: nn.Module,
    input_shape: tuple[int, ...],
    num_classes: int,
    device: torch.device,
    batch_size: int = 128,
    steps: int = 20,
) -> dict:
    """Samples/s of Adam steps on a copy of the model, random data, after 3 warm-up steps."""
    m = copy.deepcopy(model).to(device).train()
    gen = torch.Generator(device=device).manual_seed(0)
    x = random_input(m, input_shape, batch_size, device, gen)
    y = torch.randint(0, num_classes, (batch_size,), device=device, generator=gen)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    timer = _timer("step()", step=step)
    timer.timeit(3)  # warm-up
    per_step = timer.timeit(steps).mean
    return {
        "train_samples_per_second": batch_size / per_step,
        "train_batch_size": batch_size,
        "train_steps": steps,
    }


@torch.no_grad()
def interleaved_latency(
    models: dict[str, nn.Module], example: torch.Tensor, rounds: int = 7, block_s: float = 0.02
) -> dict[str, float]:
    """Median forward time of each model over `rounds` rounds that take turns (s per call).

    Each round times one block of each model in turn, so drift of the machine hits all
    models alike; comparisons made from these figures are fair to report as ratios.
    """
    timers = {}
    for name, m in models.items():
        m.eval()
        timers[name] = _timer("m(x)", m=m, x=example)
    number = {}
    for name, timer in timers.items():  # warm-up, and calls per block of about `block_s`
        number[name] = max(1, round(block_s / timer.timeit(5).mean))
    times: dict[str, list[float]] = {n: [] for n in models}
    for _ in range(rounds):
        for name, timer in timers.items():
            times[name].append(timer.timeit(number[name]).mean)
    return {name: statistics.median(t) for name, t in times.items()}


def gpu_energy(fn, calls: int, device: torch.device) -> dict:
    """Joules per call of `fn` from NVML's energy counter, or why there is no figure."""
    if device.type != "cuda":
        return {"energy_j_per_call": None, "energy_note": "no NVIDIA GPU"}
    try:
        import pynvml
    except ImportError:
        return {"energy_j_per_call": None, "energy_note": "pynvml not installed (extra: gpu)"}
    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
        torch.cuda.synchronize(device)
        start = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # mJ since driver load
        for _ in range(calls):
            fn()
        torch.cuda.synchronize(device)
        used = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) - start
    except pynvml.NVMLError as exc:
        return {"energy_j_per_call": None, "energy_note": f"NVML: {exc}"}
    finally:
        pynvml.nvmlShutdown()
    return {"energy_j_per_call": used / 1000 / calls, "energy_note": "NVML total energy counter"}
