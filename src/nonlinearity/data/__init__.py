"""Data set sources -> in-memory tensors and metadata."""

from .sources import SOURCES, RawData, check_dataset, input_spec, load_raw
from .splits import DeviceData, Splits, crop_flip, make_splits, to_device

__all__ = [
    "SOURCES",
    "DeviceData",
    "RawData",
    "Splits",
    "check_dataset",
    "crop_flip",
    "input_spec",
    "load_raw",
    "make_splits",
    "to_device",
]
