"""reporting: every run in data/07_model_output/runs -> tables, figures, report.md."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
