"""pruning: linearise and remove neurons by their statistics, fine-tune, fold exactly."""

from .pipeline import create_pipeline, sweep_pipeline

__all__ = ["create_pipeline", "sweep_pipeline"]
