"""Model builders, picked by name."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from ..errors import ConfigError
from .mlp import MLPConfig, build_mlp


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


# name -> builder(model params, input shape without batch, number of classes)
MODELS: dict[str, Callable[..., nn.Module]] = {"mlp": _mlp}


def build_model(
    params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    name = params.get("name", "mlp")
    if name not in MODELS:
        raise ConfigError(f"model {name!r} is unknown; valid: {', '.join(MODELS)}")
    return MODELS[name](params, tuple(input_shape), num_classes)


__all__ = ["MODELS", "MLPConfig", "build_mlp", "build_model"]
