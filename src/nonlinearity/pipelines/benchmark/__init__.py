"""benchmark: every trained run measured one way: into meta.json, `latency_comparison` and
`benchmark_table`."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
