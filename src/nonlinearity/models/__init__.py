"""Model builders, picked by name, each for the kinds of data it can read."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

from torch import nn

from ..errors import ConfigError
from ..layers.apply import ACTIVATIONS
from ..params import parse, recorded, setting
from .mlp import MLPConfig, build_mlp
from .resnet import STEMS, BackboneHead, build_resnet_head, untie_activations
from .transformer import (
    PROJECTIONS,
    SequenceClassifier,
    build_transformer,
    check_attention,
    load_tokenizer,
    tokenize,
)


def _mlp(params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    hidden = list(params.get("hidden_sizes", [512, 512, 512]))
    if not hidden or any(int(h) <= 0 for h in hidden):
        raise ConfigError(
            f"model.hidden_sizes {hidden} is invalid: give one positive width per layer"
        )
    dropout = float(params.get("dropout", 0.0))
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.dropout {dropout} is outside [0, 1)")
    cfg = MLPConfig(
        in_features=math.prod(input_shape),
        num_classes=num_classes,
        hidden_sizes=[int(h) for h in hidden],
        activation=params.get("activation", "relu"),
        dropout=dropout,
    )
    return build_mlp(cfg)


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[[Mapping[str, Any], tuple[int, ...], int], nn.Module]
    kinds: tuple[str, ...]  # data kinds it reads: image | tabular | text


MODELS: dict[str, ModelEntry] = {
    "mlp": ModelEntry(_mlp, ("image", "tabular")),
    "tabular_mlp": ModelEntry(_mlp, ("tabular",)),
    "resnet18_head": ModelEntry(partial(build_resnet_head, "resnet18"), ("image",)),
    "resnet50_head": ModelEntry(partial(build_resnet_head, "resnet50"), ("image",)),
    "transformer": ModelEntry(build_transformer, ("text",)),
}


# --- model params, one dataclass per family, picked by `name` ---------------------------


@dataclass(frozen=True)
class MLPParams:
    """`model` for `mlp` (images, flattened) and `tabular_mlp`."""

    name: Literal["mlp", "tabular_mlp"] = "mlp"
    hidden_sizes: list[int] = setting(factory=lambda: [512, 512, 512], ge=1, nonempty=True)
    activation: str = setting("relu", choices=ACTIVATIONS)  # the one the approaches act on
    dropout: float = setting(0.0, ge=0, lt=1)  # after each activation
    target: str = "all"  # activations to swap: all, or module-name patterns joined by |


@dataclass(frozen=True)
class ResNetHeadParams:
    """`model` for `resnet18_head` and `resnet50_head`: torchvision backbone + MLP head."""

    name: Literal["resnet18_head", "resnet50_head"] = "resnet18_head"
    pretrained: bool = False  # torchvision ImageNet weights
    freeze_backbone: bool = False  # frozen + target head: data_prep caches backbone features
    stem: str = setting("auto", choices=STEMS)  # auto | cifar (3x3, stride 1) | imagenet
    head_hidden: list[int] = setting(factory=lambda: [512], ge=1)  # hidden widths of the head
    activation: str = setting("relu", choices=ACTIVATIONS)  # of the head
    dropout: float = setting(0.0, ge=0, lt=1)  # after each head activation
    target: str = "all"  # head | backbone | all | module-name patterns joined by |
    backbone_seed: int = 0  # initialises a random backbone whose features are cached


@dataclass(frozen=True)
class TransformerParams:
    """`model` for `transformer`: a BERT-style encoder with a classification head."""

    name: Literal["transformer"] = "transformer"
    checkpoint: str = "bert-base-uncased"  # Hub name, local folder, or `minilm`
    tokenizer: str | None = None  # None: the checkpoint's own
    config: dict[str, Any] | None = None  # a BertConfig dict instead of a checkpoint
    target: str = "all"  # all | ffn | attention | module-name patterns joined by |
    # projections of each layer's attention followed by an inserted site, linear until an
    # approach swaps it: query | key | value | output; [] inserts nothing
    attention: list[str] = setting(factory=list, choices=PROJECTIONS, check=check_attention)


# Settings added after runs were recorded, left out of a run's settings at this value so
# those runs keep their fingerprint and name.
LATER = {"attention": []}


FAMILIES: dict[str, type] = {
    "mlp": MLPParams,
    "tabular_mlp": MLPParams,
    "resnet18_head": ResNetHeadParams,
    "resnet50_head": ResNetHeadParams,
    "transformer": TransformerParams,
}


def model_config(
    params: Mapping[str, Any] | None, prefix: str = "model"
) -> MLPParams | ResNetHeadParams | TransformerParams:
    """The `model` params as their family's dataclass, checked; `name` picks the family."""
    params = params or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{prefix} = {params!r} is invalid: must be a mapping of settings")
    name = params.get("name", "mlp")
    if name not in MODELS:
        raise ConfigError(f"{prefix} {name!r} is unknown; valid: {', '.join(MODELS)}")
    return parse(FAMILIES[name], params, prefix)


def model_settings(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `model` params as a run records and fingerprints them: every field written
    out, but those of LATER at their old value; `attention` in PROJECTIONS order."""
    settings = asdict(model_config(params))
    if "attention" in settings:
        settings["attention"] = [k for k in PROJECTIONS if k in settings["attention"]]
    return recorded(settings, LATER)


def check_model(params: Mapping[str, Any], kind: str, dataset: str = "") -> None:
    """An unknown model, a bad setting, or a model that cannot read this data set stops here."""
    name = model_config(params).name
    entry = MODELS[name]
    if kind not in entry.kinds:
        fits = [m for m, e in MODELS.items() if kind in e.kinds]
        raise ConfigError(
            f"model {name!r} reads {' or '.join(entry.kinds)} data, but data set "
            f"{dataset or '?'!r} is {kind}; models for it: {', '.join(fits)}"
        )


def build_model(
    params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int, kind: str = ""
) -> nn.Module:
    name = params.get("name", "mlp")
    if kind:
        check_model(params, kind)
    elif name not in MODELS:
        raise ConfigError(f"model {name!r} is unknown; valid: {', '.join(MODELS)}")
    return MODELS[name].build(params, tuple(input_shape), num_classes)


def for_stored_weights(params: Mapping[str, Any], input_shape: tuple[int, ...]) -> dict:
    """Model params that build the same architecture without fetching pretrained weights
    (they are about to be replaced by stored ones): a ResNet's `auto` stem resolved first."""
    params = dict(params)
    if params.get("pretrained"):
        if params.get("stem", "auto") == "auto":
            params["stem"] = "imagenet"  # what `auto` gives a pretrained backbone
        params["pretrained"] = False
    return params


def resolve_target(model: nn.Module, target: str) -> str:
    """Model-level target names (`head`, `backbone`, `ffn`) -> module-name patterns."""
    return getattr(model, "targets", {}).get(target, target)


__all__ = [
    "MODELS",
    "BackboneHead",
    "MLPConfig",
    "SequenceClassifier",
    "build_mlp",
    "build_model",
    "for_stored_weights",
    "model_settings",
    "check_model",
    "load_tokenizer",
    "resolve_target",
    "tokenize",
    "untie_activations",
]
