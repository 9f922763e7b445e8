"""Parameters, FLOPs, nonlinear-unit count, latency, memory."""

from .efficiency import efficiency, latency, memory_mb, nonlinear_units, param_counts
from .flops import flop_counts, linear_flops
from .speed import gpu_energy, interleaved_latency, train_throughput

__all__ = [
    "efficiency",
    "flop_counts",
    "gpu_energy",
    "interleaved_latency",
    "train_throughput",
    "latency",
    "linear_flops",
    "memory_mb",
    "nonlinear_units",
    "param_counts",
]
