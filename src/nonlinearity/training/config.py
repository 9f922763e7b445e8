"""Training and gating settings, built from params with one-line errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch

from ..device import check_device, resolve_device
from ..errors import ConfigError, check_settings

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("cosine", "none")
TEMPERATURE_SCHEDULES = ("exponential", "linear", "constant")


def _from_params(cls, params: Mapping[str, Any] | None, prefix: str):
    return cls(**check_settings(params, (f.name for f in fields(cls)), prefix))


def _positive_int(prefix: str, name: str, value: Any, allow_zero: bool = False) -> None:
    ok = (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        need = "a non-negative integer" if allow_zero else "a positive integer"
        raise ConfigError(f"{prefix}.{name} = {value!r} is invalid: must be {need}")


def _choice(prefix: str, name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"{prefix}.{name} {value!r} is unknown; valid: {', '.join(valid)}")


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128  # samples per optimiser step
    optimizer: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    scheduler: str = "cosine"  # cosine (per step, to 0) | none
    eval_batch_size: int = 4096  # chunk size for evaluation under no_grad
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = False  # bfloat16 autocast
    compile: bool = False  # torch.compile the model for training

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> TrainConfig:
        cfg = _from_params(cls, params, "training")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            _positive_int("training", name, getattr(cfg, name))
        _choice("training", "optimizer", cfg.optimizer, OPTIMIZERS)
        _choice("training", "scheduler", cfg.scheduler, SCHEDULERS)
        if not float(cfg.lr) > 0:
            raise ConfigError(f"training.lr = {cfg.lr!r} is invalid: must be positive")
        check_device(cfg.device, "training.device")
        return cfg

    def resolve_device(self) -> torch.device:
        return resolve_device(self.device)


@dataclass
class GateConfig:
    init_alpha: float = 0.9  # starting weight of the nonlinearity, in (0, 1)
    temperature_start: float = 1.0  # alpha = sigmoid(logit / T)
    temperature_end: float = 1.0
    temperature_schedule: str = "exponential"  # exponential | linear | constant
    gate_lr: float = 1e-2  # learning rate of the gate logits (no weight decay)
    l1: float = 0.0  # weight of mean(alpha): pushes neurons linear
    entropy: float = 0.0  # weight of mean binary entropy of alpha: pushes to 0 or 1
    sparsity_target: float | None = None  # target mean alpha (share kept nonlinear)
    sparsity_weight: float = 0.0  # weight of |mean(alpha) - sparsity_target|
    harden_threshold: float = 0.5  # alpha >= threshold stays nonlinear
    harden_budget: float | None = None  # else: share of each layer kept nonlinear (top-k)
    finetune_epochs: int = 0  # epochs after hardening

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, prefix: str = "gating") -> GateConfig:
        cfg = _from_params(cls, params, prefix)
        if not 0.0 < cfg.init_alpha < 1.0:
            raise ConfigError(
                f"{prefix}.init_alpha {cfg.init_alpha} must lie strictly between 0 and 1"
            )
        for name in ("temperature_start", "temperature_end", "gate_lr"):
            if not float(getattr(cfg, name)) > 0:
                raise ConfigError(
                    f"{prefix}.{name} = {getattr(cfg, name)!r} is invalid: must be positive"
                )
        for name in ("l1", "entropy", "sparsity_weight"):
            if float(getattr(cfg, name)) < 0:
                raise ConfigError(
                    f"{prefix}.{name} = {getattr(cfg, name)!r} is invalid: must be >= 0"
                )
        _choice(prefix, "temperature_schedule", cfg.temperature_schedule, TEMPERATURE_SCHEDULES)
        for name in ("sparsity_target", "harden_budget", "harden_threshold"):
            v = getattr(cfg, name)
            if v is not None and not 0.0 <= float(v) <= 1.0:
                raise ConfigError(f"{prefix}.{name} {v} is outside [0, 1]")
        _positive_int(prefix, "finetune_epochs", cfg.finetune_epochs, allow_zero=True)
        return cfg
