"""Schemas of the raw files the sources parse, and the checks that hold a file to them.

A file is checked before it is parsed; one that does not match raises `RawFormatError`
with one line, `<file> line <n>: <found>, expected <schema>` (`item <n>` in binary files).

UCI Adult (Kohavi 1996; `adult.names` at archive.ics.uci.edu/dataset/2)::

    file     := [header] (blank | record)*         header: adult.test line 1 only
    header   := "|1x3 Cross validator"
    record   := field ("," " "* field)^14           15 fields, ADULT_COLUMNS in order
    field    := number | category | "?"            "?": a missing value
    number   in age, fnlwgt, education-num, capital-gain, capital-loss, hours-per-week
    category in ADULT_CATEGORIES[column]
    class    := "<=50K" | ">50K"                   adult.test: "<=50K." | ">50K."

MNIST IDX (LeCun et al. 1998; yann.lecun.com/exdb/mnist)::

    file := 00 00 08 ndim, dim_1 .. dim_ndim (big-endian uint32), prod(dim) uint8
    images: (N, 28, 28); labels: (N,) in 0..9, the same N as their images

CIFAR-10 python batches (Krizhevsky 2009; cs.toronto.edu/~kriz/cifar.html)::

    batch        := pickle {data: (N, 3072) uint8, labels: N ints in 0..9}, N = 10,000
                    as shipped; a row is the R, G, B planes of a 32x32 image
    batches.meta := pickle {label_names: CIFAR10_LABEL_NAMES}

ImageNet-1k folders (Russakovsky et al. 2015)::

    <split>/<wnid>/<image>+,  wnid := "n" 8 digits,  image := JPEG | PNG by signature

GLUE SST-2 (Socher et al. 2013) saved with `datasets.save_to_disk`::

    DatasetDict {train, validation}: sentence (string), label in {0, 1}
"""

from __future__ import annotations

import difflib
import pickle
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RawFormatError

# --- UCI Adult -----------------------------------------------------------------------------

ADULT_COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "class",
)
ADULT_NUMERIC = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")
_ADULT_NAMES = {  # categories as listed in adult.names
    "workclass": "Private Self-emp-not-inc Self-emp-inc Federal-gov Local-gov State-gov "
    "Without-pay Never-worked",
    "education": "Bachelors Some-college 11th HS-grad Prof-school Assoc-acdm Assoc-voc 9th "
    "7th-8th 12th Masters 1st-4th 10th Doctorate 5th-6th Preschool",
    "marital-status": "Married-civ-spouse Divorced Never-married Separated Widowed "
    "Married-spouse-absent Married-AF-spouse",
    "occupation": "Tech-support Craft-repair Other-service Sales Exec-managerial Prof-specialty "
    "Handlers-cleaners Machine-op-inspct Adm-clerical Farming-fishing Transport-moving "
    "Priv-house-serv Protective-serv Armed-Forces",
    "relationship": "Wife Own-child Husband Not-in-family Other-relative Unmarried",
    "race": "White Asian-Pac-Islander Amer-Indian-Eskimo Other Black",
    "sex": "Female Male",
    "native-country": "United-States Cambodia England Puerto-Rico Canada Germany "
    "Outlying-US(Guam-USVI-etc) India Japan Greece South China Cuba Iran Honduras Philippines "
    "Italy Poland Jamaica Vietnam Mexico Portugal Ireland France Dominican-Republic Laos "
    "Ecuador Taiwan Haiti Columbia Hungary Guatemala Nicaragua Scotland Thailand Yugoslavia "
    "El-Salvador Trinadad&Tobago Peru Hong Holand-Netherlands",
}
ADULT_CATEGORIES: dict[str, tuple[str, ...]] = {
    k: tuple(v.split()) for k, v in _ADULT_NAMES.items()
}
ADULT_LABELS = ("<=50K", ">50K")
ADULT_TEST_HEADER = "|1x3 Cross validator"
MISSING = "?"
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _choices(values: tuple[str, ...], limit: int = 8) -> str:
    shown = ", ".join(values[:limit])
    return shown if len(values) <= limit else f"{shown}, ... {len(values)} in all"


def _text_lines(path: Path) -> list[str]:
    """The file's lines as a CSV reader sees them: split on newline, a trailing CR dropped."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RawFormatError(
            f"{path} line {line}: byte 0x{data[exc.start]:02x} is not UTF-8, expected text"
        ) from None
    return [line.removesuffix("\r") for line in text.split("\n")]


def _adult_field(column: str, value: str, labels: tuple[str, ...], name: str) -> str | None:
    """What is wrong with one field, or None."""
    if column == "class":
        if value not in labels:
            return f"class {value!r} is not a label of {name}, expected {' or '.join(labels)}"
    elif value == MISSING:
        return None
    elif column in ADULT_NUMERIC:
        if not _NUMBER.fullmatch(value):
            return f"{column} {value!r} is not a number"
    elif value not in ADULT_CATEGORIES[column]:
        known = ADULT_CATEGORIES[column]
        close = difflib.get_close_matches(value, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{column} {value!r} is not a known category ({_choices(known)}){hint}"
    return None


def check_adult(path: Path, test: bool) -> None:
    """Hold UCI `adult.data` (test=False) or `adult.test` (test=True) to the schema above."""
    name = "adult.test" if test else "adult.data"
    labels = tuple(f"{c}." for c in ADULT_LABELS) if test else ADULT_LABELS
    records = 0
    for n, line in enumerate(_text_lines(path), 1):
        if test and n == 1:
            if line != ADULT_TEST_HEADER:
                raise RawFormatError(
                    f"{path} line 1: {line[:40]!r}, expected the header {ADULT_TEST_HEADER!r}"
                )
            continue
        if not line.strip():
            continue
        if line.startswith("|"):
            raise RawFormatError(
                f"{path} line {n}: header {line!r}, expected a record "
                f"(a header belongs on line 1 of adult.test only)"
            )
        fields = [f.lstrip(" ") for f in line.split(",")]
        if len(fields) != len(ADULT_COLUMNS):
            raise RawFormatError(
                f"{path} line {n}: {len(fields)} fields, expected {len(ADULT_COLUMNS)} "
                f"({', '.join(ADULT_COLUMNS)})"
            )
        if fields[0].lower() == "age":
            raise RawFormatError(
                f"{path} line {n}: a row of column names, expected a record "
                "(the UCI files have no column-name header)"
            )
        for column, value in zip(ADULT_COLUMNS, fields, strict=True):
            if problem := _adult_field(column, value, labels, name):
                raise RawFormatError(f"{path} line {n}: {problem}")
        records += 1
    if not records:
        raise RawFormatError(f"{path}: no records, expected lines of 15 comma-separated fields")


# --- MNIST IDX ------------------------------------------------------------------------------

IDX_UBYTE = 0x08  # IDX type code of unsigned bytes
MNIST_IMAGE = (28, 28)


def check_idx(path: Path, dims: tuple[int | None, ...]) -> tuple[int, ...]:
    """The shape an IDX uint8 file declares, held to `dims` (None: any size) and its size."""
    ndim, size = len(dims), path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4 + 4 * ndim)
    magic = bytes((0, 0, IDX_UBYTE, ndim))
    if head[:4] != magic:
        found = f"0x{head[:4].hex()}" if len(head) >= 4 else f"{size} bytes"
        raise RawFormatError(
            f"{path}: magic number {found}, expected 0x{magic.hex()} (IDX: uint8, ndim {ndim})"
        )
    if len(head) < 4 + 4 * ndim:
        raise RawFormatError(f"{path}: {size} bytes, expected a {4 + 4 * ndim}-byte IDX header")
    shape = struct.unpack(f">{ndim}I", head[4:])
    if any(want is not None and got != want for got, want in zip(shape, dims, strict=True)):
        want = ", ".join("N" if d is None else str(d) for d in dims)
        raise RawFormatError(f"{path}: shape {shape}, expected ({want})")
    expected = 4 + 4 * ndim + int(np.prod(shape))
    if size != expected:
        raise RawFormatError(
            f"{path}: {size:,} bytes, expected {expected:,} "
            f"({4 + 4 * ndim}-byte header + {' x '.join(map(str, shape))} uint8)"
        )
    return shape


def check_labels(path: Path, labels: np.ndarray, classes: int) -> np.ndarray:
    """`labels` as int64, or the first item (1-based) outside 0..classes-1 named."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise RawFormatError(
            f"{path}: labels are {labels.dtype} {labels.shape}, expected integers 0-{classes - 1}"
        )
    if bad := np.flatnonzero((labels < 0) | (labels >= classes)).tolist():
        raise RawFormatError(
            f"{path} item {bad[0] + 1}: label {labels[bad[0]]}, expected 0-{classes - 1}"
        )
    return labels.astype(np.int64)


def check_mnist_pair(images: Path, labels: Path) -> None:
    """An images file and its labels file: uint8 (N, 28, 28) and N labels in 0..9."""
    n_images = check_idx(images, (None, *MNIST_IMAGE))[0]
    (n_labels,) = check_idx(labels, (None,))
    if n_labels != n_images:
        raise RawFormatError(
            f"{labels}: {n_labels} labels, expected {n_images}, one per image in {images.name}"
        )
    check_labels(labels, np.frombuffer(labels.read_bytes(), np.uint8, offset=8), 10)


# --- CIFAR-10 python batches --------------------------------------------------------------

CIFAR10_LABEL_NAMES = "airplane automobile bird cat deer dog frog horse ship truck".split()
CIFAR_ROW = 3 * 32 * 32  # R, G, B planes, each 32x32 row-major


def load_pickle(path: Path) -> Any:
    """A CIFAR python pickle (latin1, as written by Python 2); one that does not load, named."""
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except OSError:
        raise
    except Exception as exc:  # malformed pickles raise many kinds
        raise RawFormatError(
            f"{path}: does not unpickle ({type(exc).__name__}: {' '.join(str(exc).split())}), "
            "expected a CIFAR-10 python batch"
        ) from None


def check_cifar_batch(path: Path, batch: Any) -> tuple[np.ndarray, np.ndarray]:
    """A batch's (N, 3072) uint8 rows and its (N,) int64 labels."""
    keys = ("data", "labels")
    if not isinstance(batch, dict) or any(k not in batch for k in keys):
        found = sorted(map(str, batch)) if isinstance(batch, dict) else type(batch).__name__
        raise RawFormatError(f"{path}: keys {found}, expected a dict with keys data, labels")
    data = batch["data"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2) or (
        data.shape[1] != CIFAR_ROW
    ):
        found = (
            f"{data.shape} {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        )
        raise RawFormatError(
            f"{path}: data is {found}, expected (N, {CIFAR_ROW}) uint8 "
            "(a 32x32 RGB image per row; N = 10,000 as shipped)"
        )
    labels = np.asarray(batch["labels"])
    if labels.shape != (len(data),):
        raise RawFormatError(
            f"{path}: {labels.size} labels, expected {len(data)}, one per row of data"
        )
    return data, check_labels(path, labels, 10)


def check_cifar_meta(path: Path, meta: Any) -> list[str]:
    """The ten class names of `batches.meta`, in label order."""
    names = meta.get("label_names") if isinstance(meta, dict) else None
    if names is None or list(names) != CIFAR10_LABEL_NAMES:
        raise RawFormatError(
            f"{path}: label_names {names}, expected {', '.join(CIFAR10_LABEL_NAMES)}"
        )
    return list(names)


# --- ImageNet folders ------------------------------------------------------------------------

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")  # JPEG, PNG
WNID = re.compile(r"n\d{8}")


def check_image_split(folder: Path, classes: dict[str, list[Path]]) -> None:
    """`<folder>/<wnid>/` class folders, each with at least one JPEG or PNG file."""
    loose = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if loose:
        raise RawFormatError(
            f"{folder}: {len(loose)} image{'s' * (len(loose) > 1)} directly in the folder "
            f"(e.g. {loose[0]}), "
            "expected them in <wnid>/ class folders (ImageNet's val ships flat: sort it into "
            "class folders by the devkit's labels)"
        )
    for wnid, files in classes.items():
        if not WNID.fullmatch(wnid):
            raise RawFormatError(
                f"{folder / wnid}: folder name {wnid!r} is not a WordNet id, "
                "expected n and 8 digits (e.g. n01440764)"
            )
        if not files:
            raise RawFormatError(
                f"{folder / wnid}: no images, expected at least one .JPEG, .jpg or .png"
            )
        for p in files:
            with open(p, "rb") as f:
                head = f.read(8)
            if not any(head.startswith(s) for s in IMAGE_SIGNATURES):
                raise RawFormatError(
                    f"{p}: starts with {head!r}, expected a JPEG or PNG image that decodes"
                )


# --- SST-2 -----------------------------------------------------------------------------------

SST2_SPLITS = ("train", "validation")
SST2_COLUMNS = ("sentence", "label")


def check_sst2(where: str, ds: Any) -> None:
    """A DatasetDict with train and validation splits of sentences labelled 0 or 1."""
    found = sorted(ds) if isinstance(ds, dict) else type(ds).__name__
    if not isinstance(ds, dict) or any(p not in ds for p in SST2_SPLITS):
        raise RawFormatError(f"{where}: splits {found}, expected {', '.join(SST2_SPLITS)}")
    for part in SST2_SPLITS:
        features = ds[part].features
        if any(c not in features for c in SST2_COLUMNS):
            raise RawFormatError(
                f"{where} {part}: columns {list(features)}, expected {', '.join(SST2_COLUMNS)}"
            )
        if getattr(features["sentence"], "dtype", None) not in ("string", "large_string"):
            raise RawFormatError(
                f"{where} {part}: sentence is {features['sentence']}, expected strings"
            )
        labels = np.asarray(ds[part].select_columns("label").with_format("numpy")[:]["label"])
        bad = np.flatnonzero((labels != 0) & (labels != 1)) if labels.dtype.kind in "iu" else [0]
        if len(bad):
            raise RawFormatError(
                f"{where} {part} row {bad[0] + 1}: label {labels[bad[0]].item()!r}, "
                "expected 0 or 1 (negative, positive)"
            )
