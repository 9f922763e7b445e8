"""Random model inputs of the right kind: pixels/features, or token ids for text models."""

from __future__ import annotations

import torch
from torch import nn


def random_input(
    model: nn.Module,
    input_shape: tuple[int, ...],
    batch_size: int,
    device: torch.device | str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Standard-normal floats, or uniform ids in [1, vocab) for models with `input_kind` tokens."""
    shape = (batch_size, *input_shape)
    if getattr(model, "input_kind", None) == "tokens":
        return torch.randint(1, model.vocab_size, shape, device=device, generator=generator)
    return torch.randn(shape, device=device, generator=generator)
