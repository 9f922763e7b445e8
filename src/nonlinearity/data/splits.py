"""Raw data -> train/val/test splits, and splits -> model-ready tensors on a device.

Image splits keep uint8 pixels (they load and move fast); normalisation statistics
are fitted on the training split only and applied on the device. Tabular splits
are encoded here (one-hot categoricals, standardised numerics, imputed missing
values), fitted on the training split only. Text splits stay sentences until the
model's tokenizer turns them into ids (`data/prepare.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ..errors import ConfigError
from ..params import parse, setting
from .sources import RawData


@dataclass
class Splits:
    """A prepared data set: tensors (or sentences, before tokenising) and what they mean."""

    name: str
    x_train: Any  # image (N, C, H, W) uint8; tabular/features (N, F) float32; text ids (N, L)
    y_train: torch.Tensor  # (N,) int64
    x_val: Any
    y_val: torch.Tensor
    x_test: Any
    y_test: torch.Tensor
    mean: list[float] | None  # image: per channel, in raw units; None: use as is
    std: list[float] | None
    num_classes: int
    kind: str = "image"  # image | tabular | text | features
    topk: tuple[int, ...] = (1,)
    augment: bool = False  # image: random crop + flip per training batch
    synthetic: bool = False
    class_names: list[str] | None = None
    # kind "features": cached outputs of a frozen backbone, which is kept here so
    # that the trained head can be put back on it; image_shape is the backbone's input.
    backbone: Any = None
    image_shape: tuple[int, ...] | None = None
    info: dict = field(default_factory=dict)  # provenance: sizes before caps, encoders

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def model_input_shape(self) -> tuple[int, ...]:
        """Shape of one sample for the whole model (images when features are cached)."""
        return self.image_shape or self.input_shape

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


Normalize = Literal["train", "imagenet"]
NORMALIZE = get_args(Normalize)


@dataclass(frozen=True)
class DataConfig:
    """`data`: how a data set is split and prepared; the last five keys only some read."""

    val_fraction: float = setting(0.1, gt=0, lt=1)  # share of the training pool for validation
    test_fraction: float = setting(0.2, gt=0, lt=1)  # share for test, where the source has none
    split_seed: int = setting(0, ge=0)  # seed of the stratified splits
    normalize: Normalize = "train"  # images: the training split's mean/std | imagenet's
    augment: bool | None = None  # images: crop + flip per training batch; None: the source's
    image_size: int = setting(224, ge=1)  # images from files (imagenet): pixels per side
    classes: int | None = setting(None, ge=1)  # imagenet: the first N classes; None: all
    per_class: int | None = setting(None, ge=1)  # imagenet: training images per class; None: all
    max_length: int = setting(64, ge=1)  # text: tokens per sentence, padded or cut

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> DataConfig:
        return parse(cls, params, "data")


def check_fractions(val_fraction: object, test_fraction: object) -> None:
    DataConfig.from_params({"val_fraction": val_fraction, "test_fraction": test_fraction})


def _split(x, y, size: float, seed: int, what: str = "val"):
    """Stratified split; too few samples for one of each class is a config error."""
    try:
        return train_test_split(x, y, test_size=size, stratify=y, random_state=seed)
    except ValueError as exc:
        classes = len(np.unique(y))
        raise ConfigError(
            f"data.{what}_fraction {size} of {len(y)} samples cannot hold each of the "
            f"{classes} classes on both sides of the split: use more data "
            "(data.per_class) or another fraction"
        ) from exc


def _subset_classes(raw: RawData, data: Mapping[str, Any]) -> RawData:
    """ImageNet-style options: keep the first `classes` classes and `per_class` images each."""
    classes, cap = data.get("classes"), data.get("per_class")
    if classes is None and cap is None:
        return raw
    keep = int(classes or raw.num_classes)
    if not 0 < keep <= raw.num_classes:
        raise ConfigError(f"data.classes {classes!r} must lie in 1..{raw.num_classes}")

    def pick(x, y, limit):
        idx = [
            i
            for c in range(keep)
            for i in np.flatnonzero(y == c)[: limit if limit is not None else None]
        ]
        return x[idx], y[idx]

    x_train, y_train = pick(raw.x_train, raw.y_train, cap)
    x_test, y_test = (None, None) if raw.x_test is None else pick(raw.x_test, raw.y_test, None)
    names = raw.class_names[:keep] if raw.class_names else None
    return RawData(
        raw.name,
        x_train,
        y_train,
        x_test,
        y_test,
        keep,
        raw.pixel_max,
        raw.kind,
        names,
        raw.topk if keep >= 5 else (1,),
        raw.augment,
        raw.synthetic,
    )


def decode_images(paths: np.ndarray, image_size: int) -> np.ndarray:
    """JPEG/PNG files -> (N, 3, S, S) uint8: resize the short side to S*256/224, centre crop S."""
    from torchvision.io import ImageReadMode, decode_image, read_file
    from torchvision.transforms.v2 import functional as TF

    out = np.empty((len(paths), 3, image_size, image_size), dtype=np.uint8)
    short = round(image_size * 256 / 224)
    for i, p in enumerate(paths):
        img = decode_image(read_file(str(p)), mode=ImageReadMode.RGB)
        img = TF.resize(img, [short], antialias=True)
        out[i] = TF.center_crop(img, [image_size, image_size]).numpy()
    return out


# The statistics torchvision's ImageNet weights were trained with, on a 0..1 scale.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_normalize(normalize: object) -> None:
    DataConfig.from_params({"normalize": normalize})


def _image_stats(x_train: np.ndarray, normalize: str, pixel_max: float) -> tuple[list, list]:
    """Per-channel mean and std: of the training split, or ImageNet's (pretrained weights)."""
    check_normalize(normalize)
    if normalize == "imagenet":
        if x_train.ndim != 4 or x_train.shape[1] != 3:
            raise ConfigError("data.normalize 'imagenet' needs RGB images")
        return [m * pixel_max for m in IMAGENET_MEAN], [s * pixel_max for s in IMAGENET_STD]
    xf = x_train.astype(np.float64)
    axes = (0, 2, 3) if xf.ndim == 4 else 0
    mean = np.atleast_1d(xf.mean(axis=axes)).tolist()
    std = np.atleast_1d(np.maximum(xf.std(axis=axes), 1e-8)).tolist()
    return mean, std


def _tabular_encoder(x_train) -> Any:
    """One-hot categoricals and standardised numerics, missing values imputed."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = list(x_train.select_dtypes("number").columns)
    categorical = [c for c in x_train.columns if c not in numeric]
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            ),
        ]
    ).fit(x_train)


def make_splits(
    raw: RawData,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    data_params: Mapping[str, Any] | None = None,
) -> Splits:
    """Carve val (and test, when the source has none) from train, stratified and seeded."""
    check_fractions(val_fraction, test_fraction)
    data = dict(data_params or {})
    raw = _subset_classes(raw, data)
    x, y = raw.x_train, raw.y_train
    if raw.x_test is None:
        x, x_test, y, y_test = _split(x, y, test_fraction, seed, "test")
    else:
        x_test, y_test = raw.x_test, raw.y_test
    x_train, x_val, y_train, y_val = _split(x, y, val_fraction, seed)
    info: dict[str, Any] = {"source_sizes": {"train": len(raw.y_train)}}
    mean = std = None
    t = torch.from_numpy
    if raw.kind == "image":
        if x_train.dtype == object:  # file paths: decode after the split and caps
            size = int(data.get("image_size", 224))
            x_train, x_val, x_test = (decode_images(a, size) for a in (x_train, x_val, x_test))
        mean, std = _image_stats(x_train, data.get("normalize", "train"), raw.pixel_max)
        x_train, x_val, x_test = (t(np.ascontiguousarray(a)) for a in (x_train, x_val, x_test))
    elif raw.kind == "tabular":
        enc = _tabular_encoder(x_train)
        x_train, x_val, x_test = (
            t(enc.transform(a).astype(np.float32)) for a in (x_train, x_val, x_test)
        )
        info["features"] = [str(f) for f in enc.get_feature_names_out()]
    return Splits(
        raw.name,
        x_train,
        t(np.asarray(y_train)),
        x_val,
        t(np.asarray(y_val)),
        x_test,
        t(np.asarray(y_test)),
        mean,
        std,
        raw.num_classes,
        kind=raw.kind,
        topk=raw.topk,
        augment=bool(raw.augment if data.get("augment") is None else data["augment"])
        and raw.kind == "image",
        synthetic=raw.synthetic,
        class_names=raw.class_names,
        info=info,
    )


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """`channels_last` for an (N, C, H, W) tensor stored so (and not also plainly contiguous)."""
    if (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    ):
        return torch.channels_last
    return torch.contiguous_format


def crop_flip_at(
    x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, padding: int
) -> torch.Tensor:
    """Each sample's (H, W) window of its zero-padded image, mirrored where `flip`.

        out[i] = pad(x[i])[:, dy[i] : dy[i] + H, dx[i] : dx[i] + W]   (flipped along W if flip[i])

    `x` (N, C, H, W), `dy`, `dx` (N, 1) offsets in 0..2*padding, `flip` (N, 1) bool.
    One gather, no per-sample Python; the output keeps `x`'s memory format.
    """
    n, _, h, w = x.shape
    dev = x.device
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    rows = dy + torch.arange(h, device=dev)  # (N, H)
    cols = dx + torch.arange(w, device=dev)  # (N, W)
    cols = torch.where(flip, cols.flip(1), cols)
    batch = torch.arange(n, device=dev)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous(memory_format=memory_format_of(x))


def crop_flip(padding: int = 4) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """Random crop with zero padding and horizontal flip, per sample, on whole batches.

    Works on normalised `(N, C, H, W)` tensors on any device, so zero padding is the
    training mean colour. Offsets and flips are drawn from `gen` on the batch's device
    (dy, dx, then flip with p = 0.5), then `crop_flip_at` takes one gather.
    """

    def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, dev = x.shape[0], x.device
        dy = torch.randint(0, 2 * padding + 1, (n, 1), device=dev, generator=gen)
        dx = torch.randint(0, 2 * padding + 1, (n, 1), device=dev, generator=gen)
        flip = torch.rand((n, 1), device=dev, generator=gen) < 0.5
        return crop_flip_at(x, dy, dx, flip, padding)

    return augment


@dataclass
class DeviceData:
    """A prepared data set on one device; batches are `randperm` slices of the stored splits.

    Images stay as stored, uint8 (one resident copy, a quarter of float32's bytes), and
    become model input a batch at a time: `inputs(x) = (float(x) - mean) / std` per
    channel, on the device. Features and token ids are stored as the model reads them.
    `x_train`, `x_val`, `x_test` are whole splits as model input, made at each access,
    for one-off passes; the training loop reads the stored splits only.
    """

    train: torch.Tensor  # stored: images (N, C, H, W) uint8; features (N, F); ids (N, L)
    y_train: torch.Tensor  # (N,) int64
    val: torch.Tensor
    y_val: torch.Tensor
    test: torch.Tensor
    y_test: torch.Tensor
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    topk: tuple[int, ...] = (1,)
    mean: torch.Tensor | None = None  # images: (1, C, 1, 1) in raw units; None: inputs as stored
    std: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        return self.train.device

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """A slice of a stored split -> model input (images normalised, in float32)."""
        if self.mean is None:
            return x
        return (x.float() - self.mean) / self.std

    @property
    def x_train(self) -> torch.Tensor:
        return self.inputs(self.train)

    @property
    def x_val(self) -> torch.Tensor:
        return self.inputs(self.val)

    @property
    def x_test(self) -> torch.Tensor:
        return self.inputs(self.test)


def to_device(
    splits: Splits, device: torch.device | str, augment: bool | None = None
) -> DeviceData:
    """Move each split once, as stored; images are normalised per batch (`DeviceData.inputs`)."""
    mean = std = None
    if splits.mean is not None:
        shape = (1, -1) + (1,) * (splits.x_train.dim() - 2)
        mean = torch.tensor(splits.mean, device=device).view(shape)
        std = torch.tensor(splits.std, device=device).view(shape)
    use_aug = splits.augment if augment is None else augment
    return DeviceData(
        splits.x_train.to(device),
        splits.y_train.to(device),
        splits.x_val.to(device),
        splits.y_val.to(device),
        splits.x_test.to(device),
        splits.y_test.to(device),
        crop_flip() if use_aug and splits.kind == "image" else None,
        tuple(splits.topk),
        mean,
        std,
    )
