"""Training and gating settings: typed sections of the params, checked by `params.parse`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch

from ..device import check_device, resolve_device
from ..errors import ConfigError
from ..params import parse, recorded, setting

Optimizer = Literal["adam", "adamw", "sgd"]
Scheduler = Literal["cosine", "none"]
TemperatureSchedule = Literal["exponential", "linear", "constant"]
OPTIMIZERS = get_args(Optimizer)
SCHEDULERS = get_args(Scheduler)
TEMPERATURE_SCHEDULES = get_args(TemperatureSchedule)


@dataclass
class TrainConfig:
    """`training`: one run's optimisation."""

    epochs: int = setting(20, ge=1)  # passes over the training split
    batch_size: int = setting(128, ge=1)  # samples per optimiser step
    optimizer: Optimizer = "adam"  # adam | adamw | sgd
    lr: float = setting(1e-3, gt=0)  # learning rate at the start of the schedule
    weight_decay: float = setting(0.0, ge=0)  # L2 (adam, sgd) or decoupled (adamw)
    momentum: float = setting(0.9, ge=0, lt=1)  # sgd only
    scheduler: Scheduler = "cosine"  # cosine (per step, to 0) | none
    eval_batch_size: int = setting(4096, ge=1)  # chunk size for evaluation under no_grad
    device: str = setting("auto", check=check_device)  # auto | cpu | cuda | cuda:N | mps
    amp: bool = False  # bfloat16 autocast
    compile: bool = False  # torch.compile the model for training
    checkpoint_every: int = setting(1, ge=0)  # epochs between checkpoints; 0: none
    # CPU threads of a run; None: the worker's budget (cores / workers; all cores when sequential)
    threads: int | None = setting(None, ge=1)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> TrainConfig:
        return parse(cls, params, "training")

    def resolve_device(self) -> torch.device:
        return resolve_device(self.device)


@dataclass
class GateConfig:
    """A gate variant of `train_gated.variants`: alpha = sigmoid(logit / T) per neuron."""

    init_alpha: float = setting(0.9, gt=0, lt=1)  # starting weight of the nonlinearity
    temperature_start: float = setting(1.0, gt=0)  # T at the first epoch
    temperature_end: float = setting(1.0, gt=0)  # T at the last epoch
    temperature_schedule: TemperatureSchedule = "exponential"  # exponential | linear | constant
    gate_lr: float = setting(1e-2, gt=0)  # learning rate of the gate logits (no weight decay)
    l1: float = setting(0.0, ge=0)  # weight of mean(alpha): pushes neurons linear
    entropy: float = setting(0.0, ge=0)  # weight of mean binary entropy of alpha: to 0 or 1
    sparsity_target: float | None = setting(None, ge=0, le=1)  # target mean alpha
    sparsity_weight: float = setting(0.0, ge=0)  # weight of |mean(alpha) - sparsity_target|
    harden_threshold: float = setting(0.5, ge=0, le=1)  # alpha >= threshold stays nonlinear
    harden_budget: float | None = setting(None, ge=0, le=1)  # else: share kept per layer (top-k)
    finetune_epochs: int = setting(0, ge=0)  # of training.epochs, those after hardening
    # ReLU count per sample to keep (meta.json nonlinear_evals_per_sample: a conv channel
    # counts at every position); hardens to exactly it, by alpha over all gated channels
    relu_budget: int | None = setting(None, ge=0)
    relu_budget_weight: float = setting(0.0, ge=0)  # weight of |soft ReLU count - budget| / all

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, prefix: str = "gating") -> GateConfig:
        cfg = parse(cls, params, prefix)
        if cfg.relu_budget is not None and cfg.harden_budget is not None:
            raise ConfigError(
                f"{prefix}: relu_budget and harden_budget are both set; give one: a ReLU count "
                "per sample for the whole model, or a share kept per layer"
            )
        if cfg.relu_budget is None and cfg.relu_budget_weight:
            raise ConfigError(
                f"{prefix}.relu_budget_weight = {cfg.relu_budget_weight:g} needs a relu_budget "
                "(the ReLU count per sample to keep); valid: set relu_budget, or weight 0"
            )
        return cfg


# Added after runs were stored: left out of a run's settings while unset, so the
# fingerprints and names of runs made without them stay what they were.
BUDGET_FIELDS = {"relu_budget": None, "relu_budget_weight": 0.0}


def gate_settings(gates: GateConfig | None) -> dict | None:
    """A gate variant as a run's settings: its fields, less the budget ones left unset."""
    return None if gates is None else recorded(asdict(gates), BUDGET_FIELDS)


def epochs_budget(epochs: int, gates: GateConfig | None, where: str = "gating") -> dict[str, int]:
    """A run's epochs by phase; every trained run has `training.epochs` in all.

        fixed, layer-wise, matched:  {"train": E, "total": E}
        gated:                       {"soft": E - f, "finetune": f, "total": E}

    with E = `training.epochs` and f = the variant's `finetune_epochs`: the soft
    phase, then hardening, then f fine-tune epochs (numbered on). A gated run needs
    one soft epoch at least; `where` names the variant in the error.
    """
    if gates is None:
        return {"train": epochs, "total": epochs}
    f = gates.finetune_epochs
    if f >= epochs:
        raise ConfigError(
            f"{where}.finetune_epochs = {f} is invalid: a gated run trains training.epochs = "
            f"{epochs} in all (soft epochs, then finetune_epochs after hardening) and needs a "
            f"soft epoch; valid: 0..{epochs - 1}"
        )
    return {"soft": epochs - f, "finetune": f, "total": epochs}
