"""Training: one loop, gate regularisers, hardening."""

from .config import GateConfig, TrainConfig, epochs_budget
from .loop import evaluate, fit, harden
from .regularizers import binary_entropy, gate_penalty, temperature_at

__all__ = [
    "GateConfig",
    "TrainConfig",
    "binary_entropy",
    "epochs_budget",
    "evaluate",
    "fit",
    "gate_penalty",
    "harden",
    "temperature_at",
]
