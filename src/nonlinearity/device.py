"""Where a run computes: its device and, on the CPU, its threads.

Device names in params: `auto` (CUDA when there is one), `cpu`, `cuda`, `cuda:N`, `mps`.
`check_device` refuses a name torch does not know and a device this machine does not
have, before any work: `training.device 'cuda:3' is not available here: no CUDA device;
valid here: auto, cpu`.

Threads: a process that runs nodes beside others gets a budget, `cores // workers`
(`thread_budget`), set when the worker starts (`use_threads`); a run may pin its own
(`training.threads`, `cpu_threads`). PyTorch's CPU kernels split sums over threads, so
the thread count changes float rounding: runs compare bit for bit at equal counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import ConfigError

KINDS = ("cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """The device names that work on this machine."""
    names = ["auto", "cpu"]
    if (n := torch.cuda.device_count()) > 0:
        names += ["cuda", *(f"cuda:{i}" for i in range(n))]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def _missing(device: torch.device) -> str | None:
    """Why this machine cannot run on `device`, or None when it can."""
    if device.type == "cuda":
        n = torch.cuda.device_count()
        if n == 0:
            return "no CUDA device"
        if device.index is not None and device.index >= n:
            return f"{n} CUDA device{'s' if n > 1 else ''} (cuda:0..cuda:{n - 1})"
    if device.type == "mps" and not torch.backends.mps.is_available():
        return "no MPS device"
    return None


def check_device(name: object, where: str) -> None:
    if name == "auto":
        return
    try:
        device = torch.device(name) if isinstance(name, str) else None
    except RuntimeError:
        device = None
    if device is None or device.type not in KINDS:
        raise ConfigError(f"{where} {name!r} is unknown; valid: auto, cpu, cuda, cuda:N, mps")
    if reason := _missing(device):
        raise ConfigError(
            f"{where} {name!r} is not available here: {reason}; "
            f"valid here: {', '.join(available_devices())}"
        )


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cpu_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_budget(workers: int, cores: int | None = None) -> int:
    """CPU threads for each of `workers` processes sharing `cores`: cores // workers, >= 1."""
    return max(1, (cores or cpu_cores()) // max(1, workers))


def use_threads(threads: int) -> None:
    """Set this process's CPU threads (torch's pool and, for libraries that start later,
    OMP_NUM_THREADS / MKL_NUM_THREADS). A worker process calls it once when it starts."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch.set_num_threads(threads)


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[int]:
    """Run the block with `threads` CPU threads (None: the process's current count)."""
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield before
        return
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)
