"""Raw arrays -> train/val/test splits, and splits -> normalised tensors on a device.

Splits keep the raw dtype (uint8 pixels load and move fast); normalisation
statistics are fitted on the training split only and applied on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ..errors import ConfigError
from .sources import RawData


@dataclass
class Splits:
    """Prepared data set: raw-dtype tensors plus what is needed to normalise them."""

    name: str
    x_train: torch.Tensor  # (N, C, H, W), raw dtype
    y_train: torch.Tensor  # (N,) int64
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: list[float]  # per channel, in units of the raw values
    std: list[float]
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def check_fractions(val_fraction: object, test_fraction: object) -> None:
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < f < 1.0:
            raise ConfigError(f"data.{name} {f!r} must lie strictly between 0 and 1")


def make_splits(raw: RawData, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Carve val (and test, when the source has none) from train, stratified and seeded."""
    check_fractions(val_fraction, test_fraction)
    x, y = raw.x_train, raw.y_train
    if raw.x_test is None:
        x, x_test, y, y_test = train_test_split(
            x, y, test_size=test_fraction, stratify=y, random_state=seed
        )
    else:
        x_test, y_test = raw.x_test, raw.y_test
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_fraction, stratify=y, random_state=seed
    )
    xf = x_train.astype(np.float64)
    axes = (0, 2, 3) if xf.ndim == 4 else 0
    mean, std = xf.mean(axis=axes), xf.std(axis=axes)
    t = torch.from_numpy
    return Splits(
        raw.name,
        t(np.ascontiguousarray(x_train)),
        t(y_train),
        t(np.ascontiguousarray(x_val)),
        t(y_val),
        t(np.ascontiguousarray(x_test)),
        t(y_test),
        np.atleast_1d(mean).tolist(),
        np.atleast_1d(np.maximum(std, 1e-8)).tolist(),
        raw.num_classes,
    )


@dataclass
class DeviceData:
    """Normalised float tensors on one device; batches are `randperm` slices of these."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def device(self) -> torch.device:
        return self.x_train.device


def to_device(splits: Splits, device: torch.device | str) -> DeviceData:
    """Move once, then normalise on the device."""
    shape = (1, -1) + (1,) * (splits.x_train.dim() - 2)
    mean = torch.tensor(splits.mean, device=device).view(shape)
    std = torch.tensor(splits.std, device=device).view(shape)

    def norm(x: torch.Tensor) -> torch.Tensor:
        return (x.to(device, non_blocking=True).float() - mean) / std

    return DeviceData(
        norm(splits.x_train),
        splits.y_train.to(device),
        norm(splits.x_val),
        splits.y_val.to(device),
        norm(splits.x_test),
        splits.y_test.to(device),
    )
