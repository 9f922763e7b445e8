"""Data set sources -> in-memory tensors and metadata."""

from .sources import SHAPES, SOURCES, RawData, check_dataset, load_raw
from .splits import DeviceData, Splits, make_splits, to_device

__all__ = [
    "SHAPES",
    "SOURCES",
    "DeviceData",
    "RawData",
    "Splits",
    "check_dataset",
    "load_raw",
    "make_splits",
    "to_device",
]
