"""robustness: clean accuracy and accuracy under FGSM and PGD of trained runs."""

from .pipeline import create_pipeline, report_pipeline, run_pipeline, sweep_pipeline

__all__ = ["create_pipeline", "report_pipeline", "run_pipeline", "sweep_pipeline"]
