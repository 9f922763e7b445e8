"""Device names in params: `auto` (CUDA when there is one), `cpu`, `cuda`, `cuda:N`, `mps`.

`check_device` refuses a name torch does not know and a device this machine does not
have, before any work: `training.device 'cuda:3' is not available here: no CUDA device;
valid here: auto, cpu`.
"""

from __future__ import annotations

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
