"""Parameters, FLOPs, nonlinear-unit count, latency, memory."""

from .efficiency import (
    efficiency,
    latency,
    latency_stats,
    memory_mb,
    nonlinear_units,
    param_counts,
)
from .flops import flop_counts, linear_flops
from .speed import Rounds, gpu_energy, interleaved_rounds, train_throughput

__all__ = [
    "Rounds",
    "efficiency",
    "flop_counts",
    "gpu_energy",
    "interleaved_rounds",
    "train_throughput",
    "latency",
    "latency_stats",
    "linear_flops",
    "memory_mb",
    "nonlinear_units",
    "param_counts",
]
