"""Kedro datasets of the project (the only place the library meets the catalog)."""

from .raw_dataset import RawDataset

__all__ = ["RawDataset"]
