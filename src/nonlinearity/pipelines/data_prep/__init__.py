"""Raw data set -> seeded train/val/test splits with normalisation statistics."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
