"""Data set sources: raw arrays as the data set's authors ship them.

`digits` is scikit-learn's bundled 8x8 handwritten digits (1,797 images, values
0..16): the embedded default, always available. `mnist` comes through
torchvision into `<raw_dir>/MNIST/raw/`; offline, the IDX files must be there.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataUnavailableError


@dataclass
class RawData:
    """Arrays as shipped; `x_test` is None when the source has no official test split."""

    name: str
    x_train: np.ndarray  # (N, C, H, W) uint8
    y_train: np.ndarray  # (N,) int64
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    num_classes: int
    pixel_max: float  # value of a full-intensity pixel


def load_digits_raw(raw_dir: str | Path) -> RawData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), values 0..16
    return RawData("digits", x, d.target.astype(np.int64), None, None, 10, 16.0)


MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def load_mnist_raw(raw_dir: str | Path) -> RawData:
    from torchvision.datasets import MNIST
    from torchvision.datasets.utils import extract_archive

    root = Path(raw_dir)
    folder = root / "MNIST" / "raw"
    for f in MNIST_FILES:  # files placed by hand may still be compressed
        if not (folder / f).exists() and (folder / f"{f}.gz").exists():
            extract_archive(str(folder / f"{f}.gz"), str(folder))
    present = all((folder / f).exists() for f in MNIST_FILES)
    try:
        # Downloads only when files are missing; torchvision's progress lines stay quiet.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            train = MNIST(str(root), train=True, download=not present)
            test = MNIST(str(root), train=False, download=not present)
    except (OSError, RuntimeError, ValueError) as exc:
        if present:
            raise DataUnavailableError(
                f"MNIST files in {folder}/ do not load: {' '.join(str(exc).split())}"
            ) from exc
        raise DataUnavailableError(
            f"MNIST files not found in {folder}/ and the download failed: put "
            f"{', '.join(MNIST_FILES)} (or their .gz) there, or run once with network access"
        ) from exc
    return RawData(
        "mnist",
        train.data.numpy()[:, None],
        train.targets.numpy().astype(np.int64),
        test.data.numpy()[:, None],
        test.targets.numpy().astype(np.int64),
        10,
        255.0,
    )


# name -> loader(raw_dir); `SHAPES` gives (input shape, classes) without loading anything.
SOURCES: dict[str, Callable[[str | Path], RawData]] = {
    "digits": load_digits_raw,
    "mnist": load_mnist_raw,
}
SHAPES: dict[str, tuple[tuple[int, ...], int]] = {
    "digits": ((1, 8, 8), 10),
    "mnist": ((1, 28, 28), 10),
}


def check_dataset(name: str) -> None:
    if name not in SOURCES:
        raise ConfigError(f"dataset {name!r} is unknown; valid: {', '.join(SOURCES)}")


def load_raw(name: str, raw_dir: str | Path) -> RawData:
    check_dataset(name)
    return SOURCES[name](raw_dir)
