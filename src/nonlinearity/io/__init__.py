"""Kedro datasets of the project (the only place the library meets the catalog)."""

from .raw_dataset import RawDataset
from .run_datasets import MetaUpdatesDataset, ModelsDataset, RunRecordDataset, RunStoreDataset
from .splits_dataset import ModelInputsDataset, SplitsDataset

__all__ = [
    "MetaUpdatesDataset",
    "ModelInputsDataset",
    "ModelsDataset",
    "RawDataset",
    "RunRecordDataset",
    "RunStoreDataset",
    "SplitsDataset",
]
