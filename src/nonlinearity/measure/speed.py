"""Training throughput, interleaved timing rounds, the GEMM bound and GPU energy.

All timing goes through `torch.utils.benchmark.Timer`, which synchronises CUDA
around each timed block.
"""

from __future__ import annotations

import copy
import random
import timeit
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import benchmark

from .inputs import random_input


def _timer(stmt: str, threads: int | None = None, **env) -> benchmark.Timer:
    """A Timer that sets `threads` CPU threads while it times (None: torch's current)."""
    return benchmark.Timer(stmt, globals=env, num_threads=threads or torch.get_num_threads())


def train_throughput(
    model: nn.Module,
    input_shape: tuple[int, ...],
    num_classes: int,
    device: torch.device,
    batch_size: int = 128,
    steps: int = 20,
    threads: int | None = None,
) -> dict:
    """Samples/s of Adam steps on a copy of the model, random data, after 3 warm-up steps,
    with `threads` CPU threads (None: torch's current)."""
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

    timer = _timer("step()", threads, step=step)
    timer.timeit(3)  # warm-up
    per_step = timer.timeit(steps).mean
    return {
        "train_samples_per_second": batch_size / per_step,
        "train_batch_size": batch_size,
        "train_steps": steps,
    }


@dataclass(frozen=True)
class Rounds:
    """Interleaved timing: each model's seconds per call in every round, and calls per block."""

    seconds: dict[Hashable, list[float]]  # model -> [s per call in round 0, 1, ...]
    calls_per_block: dict[Hashable, int]  # model -> forward calls timed in each round


@torch.no_grad()
def interleaved_rounds(
    models: Mapping[Hashable, nn.Module],
    example: torch.Tensor,
    rounds: int = 10,
    block_s: float = 0.02,
    seed: int = 0,
    threads: int | None = None,
) -> Rounds:
    """Forward time of each model (eval, `no_grad`) in `rounds` rounds that take turns.

    Every model is first warmed up (3 calls, then about block_s / 4 of calls, whose mean
    t_m sets its calls per block n_m = max(1, round(block_s / t_m))). Round i then times
    one block of n_m calls of every model, in an order shuffled per round (seeded), and
    `seconds[m][i]` is the per-call mean of that block. Drift of the machine and the
    place in the order hit all models alike, and times from the same round are paired:
    r_i = t_i / b_i is the round's ratio (`reporting.stats.ratio_interval`). The timer
    runs with `threads` CPU threads (None: torch's current).
    """
    modes = {k: m.training for k, m in models.items()}
    timers = {k: _timer("m(x)", threads, m=m.eval(), x=example) for k, m in models.items()}
    number = {}
    for k, timer in timers.items():
        first = timer.timeit(3).mean  # warm-up: allocations, caches, lazy init
        per_call = timer.timeit(max(3, round(block_s / 4 / max(first, 1e-9)))).mean
        number[k] = max(1, round(block_s / max(per_call, 1e-9)))
    order, rng = list(timers), random.Random(seed)
    seconds: dict[Hashable, list[float]] = {k: [] for k in timers}
    for _ in range(rounds):
        rng.shuffle(order)
        for k in order:
            seconds[k].append(timers[k].timeit(number[k]).mean)
    for k, m in models.items():
        m.train(modes[k])
    return Rounds(seconds, number)


@dataclass(frozen=True)
class Gemm:
    """One matrix product of a training step, (m, k) @ (k, n), as autograd lays it out."""

    layer: str
    op: str  # forward x @ W.T | grad_input g @ W | grad_weight g.T @ x
    m: int
    k: int
    n: int
    a_transposed: bool = False  # the left operand is a transposed view (g.T)
    b_transposed: bool = False  # the right operand is a transposed view (W.T)

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n


def training_gemms(model: nn.Module, example: torch.Tensor) -> list[Gemm]:
    """The GEMMs one training step of `model` on the batch `example` runs in its Linear layers.

    Per call of an `nn.Linear` (in -> out) on r rows (all leading dims of its input):
        forward      x @ W.T   (r, in) @ (in, out)
        grad_input   g @ W     (r, out) @ (out, in), only if the input needs a gradient
                               (not the first layer's, whose input is data)
        grad_weight  g.T @ x   (out, r) @ (r, in), only if W trains
    (the layouts of `AddmmBackward0`: W.T and g.T are transposed views, as there).
    """
    names = {m: n for n, m in model.named_modules()}
    gemms: list[Gemm] = []

    def hook(layer: nn.Linear, args: tuple) -> None:
        x, name = args[0], names[layer]
        r, k, n = x.numel() // x.shape[-1], layer.in_features, layer.out_features
        gemms.append(Gemm(name, "forward", r, k, n, b_transposed=True))
        if x.requires_grad:
            gemms.append(Gemm(name, "grad_input", r, n, k))
        if layer.weight.requires_grad:
            gemms.append(Gemm(name, "grad_weight", n, r, k, a_transposed=True))

    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    handles = [m.register_forward_pre_hook(hook) for m in linears]
    try:
        with torch.enable_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    return gemms


def gemm_seconds(
    gemms: list[Gemm],
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    repeats: int = 5,
    block_s: float = 0.005,
    threads: int | None = None,
    timer: Callable[[], float] = timeit.default_timer,
) -> list[list[float]]:
    """Seconds per call of each GEMM in `repeats` timed blocks of about `block_s`, after
    3 warm-up calls, on random operands in `dtype` and the layouts of `Gemm`; `timer`
    is the clock (`time.thread_time`: CPU time of a single-threaded run)."""
    gen = torch.Generator(device=device).manual_seed(0)
    out = []
    for g in gemms:
        a_shape, b_shape = ((g.k, g.m) if g.a_transposed else (g.m, g.k)), (g.k, g.n)
        b_shape = (g.n, g.k) if g.b_transposed else b_shape
        a = torch.randn(a_shape, device=device, dtype=dtype, generator=gen)
        b = torch.randn(b_shape, device=device, dtype=dtype, generator=gen)
        a, b = (a.t() if g.a_transposed else a), (b.t() if g.b_transposed else b)
        t = benchmark.Timer(
            "torch.mm(a, b)",
            globals={"torch": torch, "a": a, "b": b},
            num_threads=threads or torch.get_num_threads(),
            timer=timer,
        )
        first = t.timeit(3).mean  # warm-up
        number = max(1, round(block_s / max(first, 1e-9)))
        out.append([t.timeit(number).mean for _ in range(repeats)])
    return out


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
