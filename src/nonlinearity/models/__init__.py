"""Model builders, picked by name, each for the kinds of data it can read."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from torch import nn

from ..errors import ConfigError
from .mlp import MLPConfig, build_mlp
from .resnet import BackboneHead, build_resnet_head, untie_activations
from .transformer import SequenceClassifier, build_transformer, load_tokenizer, tokenize


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


def check_model(params: Mapping[str, Any], kind: str, dataset: str = "") -> None:
    """An unknown model, or one that cannot read this data set, stops here."""
    name = params.get("name", "mlp")
    if name not in MODELS:
        raise ConfigError(f"model {name!r} is unknown; valid: {', '.join(MODELS)}")
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
    "check_model",
    "load_tokenizer",
    "resolve_target",
    "tokenize",
    "untie_activations",
]
