import gzip
import struct

import numpy as np
import pytest

from nonlinearity.data import load_raw, make_splits
from nonlinearity.data.sources import MNIST_FILES
from nonlinearity.errors import ConfigError, DataUnavailableError, RawFormatError


def _idx(array: np.ndarray) -> bytes:
    """MNIST's IDX format: magic (0, 0, 0x08 = uint8, ndim), big-endian dims, then the data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root, n_train=60, n_test=10, compress=False, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, arr in arrays.items():
        data = _idx(arr)
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_loads_idx_files(tmp_path, compress):
    arrays = write_mnist(tmp_path, compress=compress)
    raw = load_raw("mnist", tmp_path)
    assert raw.x_train.shape == (60, 1, 28, 28) and raw.x_train.dtype == np.uint8
    np.testing.assert_array_equal(raw.x_train[:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(raw.y_test, arrays["t10k-labels-idx1-ubyte"])
    splits = make_splits(raw, val_fraction=0.2, test_fraction=0.5, seed=0)
    assert splits.sizes() == {"train": 48, "val": 12, "test": 10}  # official test kept


def _header(kind: int, *dims: int) -> bytes:
    return struct.pack(">BBBB", 0, 0, kind, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


# file rewritten from its good bytes -> the error after "<file>"; 60 train images of 28x28
MNIST_DEFECTS = {
    "truncated images": (
        "train-images-idx3-ubyte",
        lambda b: b[:-6],
        ": 47,050 bytes, expected 47,056 (16-byte header + 60 x 28 x 28 uint8)",
    ),
    "trailing bytes": (
        "t10k-labels-idx1-ubyte",
        lambda b: b + b"\n",
        ": 19 bytes, expected 18 (8-byte header + 10 uint8)",
    ),
    "float labels": (
        "train-labels-idx1-ubyte",
        lambda b: _header(0x0D, 60) + b[8:],
        ": magic number 0x00000d01, expected 0x00000801 (IDX: uint8, ndim 1)",
    ),
    "labels in place of images": (
        "train-images-idx3-ubyte",
        lambda b: _header(0x08, 60) + bytes(60),
        ": magic number 0x00000801, expected 0x00000803 (IDX: uint8, ndim 3)",
    ),
    "not 28x28": (
        "t10k-images-idx3-ubyte",
        lambda b: _header(0x08, 10, 28, 27) + b[16 : 16 + 10 * 28 * 27],
        ": shape (10, 28, 27), expected (N, 28, 28)",
    ),
    "empty file": (
        "t10k-images-idx3-ubyte",
        lambda b: b"",
        ": magic number 0 bytes, expected 0x00000803 (IDX: uint8, ndim 3)",
    ),
    "label 10": (
        "train-labels-idx1-ubyte",
        lambda b: b[: 8 + 4] + bytes([10]) + b[8 + 5 :],
        " item 5: label 10, expected 0-9",
    ),
    "labels short": (
        "train-labels-idx1-ubyte",
        lambda b: _header(0x08, 59) + b[8:-1],
        ": 59 labels, expected 60, one per image in train-images-idx3-ubyte",
    ),
}


@pytest.mark.parametrize("defect", list(MNIST_DEFECTS))
def test_mnist_idx_defect_one_exact_line(tmp_path, defect):
    name, edit, expected = MNIST_DEFECTS[defect]
    write_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / name
    path.write_bytes(edit(path.read_bytes()))
    with pytest.raises(RawFormatError) as info:
        load_raw("mnist", tmp_path)
    assert str(info.value) == f"{path}{expected}"


def test_mnist_corrupt_gzip_one_line(tmp_path):
    write_mnist(tmp_path, compress=True)
    gz = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:-12])  # cut short in a download
    with pytest.raises(RawFormatError) as info:
        load_raw("mnist", tmp_path)
    message = str(info.value)
    assert message.startswith(f"{gz}: does not decompress (") and "\n" not in message
    assert message.endswith("expected a gzip file")
    assert not gz.with_suffix("").exists()  # no half-extracted file for the next run to trust


def test_mnist_missing_files_one_line(tmp_path, monkeypatch):
    import urllib.request

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)  # no network at test time
    with pytest.raises(DataUnavailableError) as info:
        load_raw("mnist", tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "MNIST" / "raw") in message and all(f in message for f in MNIST_FILES)


def test_digits_splits_are_stratified_and_seeded():
    raw = load_raw("digits", "unused")
    a = make_splits(raw, 0.1, 0.2, seed=0)
    b = make_splits(raw, 0.1, 0.2, seed=0)
    assert a.sizes() == {"train": 1293, "val": 144, "test": 360}
    assert np.array_equal(a.y_val.numpy(), b.y_val.numpy())
    counts = np.bincount(a.y_test.numpy(), minlength=10)
    assert counts.min() >= 35  # ~36 of each class in 360
    train = a.x_train.numpy().astype(np.float64)
    assert a.mean[0] == pytest.approx(train.mean()) and a.std[0] == pytest.approx(train.std())


def test_unknown_dataset():
    with pytest.raises(
        ConfigError, match="dataset .cifar. is unknown; valid: digits, digits32, mnist, cifar10"
    ):
        load_raw("cifar", "unused")
