"""benchmark: every trained run's efficiency, measured one way, into meta.json and one table."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
