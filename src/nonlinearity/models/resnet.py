"""ResNet backbone (torchvision) + MLP head whose hidden activations take the approach.

`target: head` linearises the head only; `backbone` the backbone's own ReLUs, per
channel, one mask per call site (as ReLU-reduction papers count them); `all` both.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import fx, nn

from ..errors import ConfigError, DataUnavailableError
from ..layers.apply import ACTIVATIONS
from .mlp import MLPConfig, build_mlp

STEMS = ("auto", "cifar", "imagenet")


class BackboneHead(nn.Module):
    """`head(backbone(x))`; a frozen backbone stays in eval mode and out of the optimiser."""

    targets = {"head": "head.*", "backbone": "backbone.*"}

    def __init__(self, backbone: nn.Module, head: nn.Module, frozen: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.frozen = frozen
        if frozen:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> BackboneHead:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()  # BatchNorm statistics stay those of the weights
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # cached backbone features (N, F) go straight to the head
            return self.head(x)
        return self.head(self.backbone(x))

    def set_backbone(self, backbone: nn.Module) -> None:
        self.backbone = backbone
        if self.frozen:
            self.backbone.requires_grad_(False)


def untie_activations(module: nn.Module) -> nn.Module:
    """Give every call of a shared activation module its own module (torch.fx).

    torchvision's blocks call one `relu` twice or three times; a per-channel mask
    must belong to one call site. Names: `layer1.0.relu`, `layer1.0.relu_1`, ...
    """
    gm = fx.symbolic_trace(module)
    used: set[str] = set()
    for n in gm.graph.nodes:
        if n.op != "call_module" or not isinstance(
            gm.get_submodule(n.target), tuple(ACTIVATIONS.values())
        ):
            continue
        if n.target in used:
            k = 1
            while f"{n.target}_{k}" in used:
                k += 1
            new = f"{n.target}_{k}"
            gm.add_submodule(new, copy.deepcopy(gm.get_submodule(n.target)))
            n.target = new
        used.add(n.target)
    gm.recompile()
    return gm


def _weights(arch: str, pretrained: bool):
    if not pretrained:
        return None
    from torchvision import models

    weights = models.get_model_weights(arch).DEFAULT
    try:
        weights.get_state_dict(progress=False, check_hash=True)  # cached, or downloaded
    except Exception as exc:  # URLError, HTTPError, hash mismatch: not available
        url = weights.url
        raise DataUnavailableError(
            f"pretrained {arch} weights are not in the torch hub cache "
            f"({torch.hub.get_dir()}/checkpoints/{url.rsplit('/', 1)[-1]}) and cannot be "
            "downloaded: put the file there, or set model.pretrained: false"
        ) from exc
    return weights


def build_resnet_head(
    arch: str, params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int
) -> BackboneHead:
    from torchvision import models

    if len(input_shape) != 3 or input_shape[0] != 3:
        raise ConfigError(
            f"model {params.get('name')!r} needs RGB images (3, H, W); this data set gives "
            f"{tuple(input_shape)}"
        )
    pretrained = bool(params.get("pretrained", False))
    stem = params.get("stem", "auto")
    if stem not in STEMS:
        raise ConfigError(f"model.stem {stem!r} is unknown; valid: {', '.join(STEMS)}")
    if stem == "auto":
        stem = "cifar" if input_shape[1] <= 64 and not pretrained else "imagenet"
    backbone = models.get_model(arch, weights=_weights(arch, pretrained))
    if stem == "cifar":  # 3x3 stride-1 stem, no max-pool: 32x32 inputs keep their detail
        backbone.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        backbone.maxpool = nn.Identity()
    features = backbone.fc.in_features
    backbone.fc = nn.Identity()
    hidden = [int(h) for h in params.get("head_hidden", [512])]
    if any(h <= 0 for h in hidden):
        raise ConfigError(f"model.head_hidden {hidden} is invalid: give positive widths")
    head = build_mlp(
        MLPConfig(
            features,
            num_classes,
            hidden,
            params.get("activation", "relu"),
            float(params.get("dropout", 0.0)),
        )
    )
    return BackboneHead(
        untie_activations(backbone), head, bool(params.get("freeze_backbone", False))
    )
