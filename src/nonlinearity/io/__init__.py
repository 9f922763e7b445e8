"""Kedro datasets of the project (the only place the library meets the catalog)."""

from .raw_dataset import RawDataset
from .run_datasets import MetaUpdatesDataset, ModelsDataset, RunRecordDataset, RunStoreDataset

__all__ = [
    "MetaUpdatesDataset",
    "ModelsDataset",
    "RawDataset",
    "RunRecordDataset",
    "RunStoreDataset",
]
