"""Parameters, FLOPs, nonlinear-unit count, latency, memory."""

from .efficiency import efficiency, latency, linear_flops, memory_mb, nonlinear_units, param_counts

__all__ = ["efficiency", "latency", "linear_flops", "memory_mb", "nonlinear_units", "param_counts"]
