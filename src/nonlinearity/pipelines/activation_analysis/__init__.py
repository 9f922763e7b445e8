"""activation_analysis: per-neuron and per-layer activation statistics of trained runs."""

from .pipeline import create_pipeline, run_pipeline

__all__ = ["create_pipeline", "run_pipeline"]
