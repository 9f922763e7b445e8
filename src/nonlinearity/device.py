"""Device names in params: `auto` (CUDA when there is one), `cpu`, `cuda`, `cuda:N`."""

from __future__ import annotations

import torch

from .errors import ConfigError


def check_device(name: str, where: str) -> None:
    if name == "auto":
        return
    try:
        torch.device(name)
    except RuntimeError:
        raise ConfigError(f"{where} {name!r} is unknown; valid: auto, cpu, cuda, cuda:N") from None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
