"""Plain MLP classifier: flatten -> [Linear -> act (-> dropout)] x L -> Linear."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from torch import nn

from ..layers import create_act


@dataclass
class MLPConfig:
    in_features: int  # flattened input size
    num_classes: int
    hidden_sizes: list[int] = field(default_factory=lambda: [512, 512, 512])  # one per layer
    activation: str = "relu"  # the nonlinearity the approaches act on
    dropout: float = 0.0  # after each activation; 0 disables


def build_mlp(cfg: MLPConfig) -> nn.Sequential:
    """Activation modules are named `act0`, `act1`, ... so targets and reports read well."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = cfg.in_features
    for i, h in enumerate(cfg.hidden_sizes):
        layers[f"fc{i}"] = nn.Linear(width, h)
        layers[f"act{i}"] = create_act(cfg.activation)
        if cfg.dropout > 0:
            layers[f"drop{i}"] = nn.Dropout(cfg.dropout)
        width = h
    layers["out"] = nn.Linear(width, cfg.num_classes)
    return nn.Sequential(layers)
