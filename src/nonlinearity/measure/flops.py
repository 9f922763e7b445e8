"""FLOPs by PyTorch's own counter (`torch.utils.flop_counter`), for one sample's forward pass."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# Ops whose FLOPs belong to Linear / Conv layers (the counter also knows attention kernels).
_LINEAR_OPS = ("aten.mm", "aten.addmm", "aten.bmm", "aten.baddbmm", "aten.convolution")


@torch.no_grad()
def flop_counts(model: nn.Module, example: torch.Tensor) -> dict[str, int]:
    """`flops_total` and `flops_linear` (Linear/Conv) per sample, 2 FLOPs per multiply-add."""
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(example[:1])
    finally:
        model.train(was_training)
    by_op = counter.get_flop_counts().get("Global", {})
    linear = sum(n for op, n in by_op.items() if str(op).split(".default")[0] in _LINEAR_OPS)
    return {"flops_total": int(counter.get_total_flops()), "flops_linear": int(linear)}


def linear_flops(model: nn.Module, example: torch.Tensor) -> int:
    """FLOPs of the Linear and Conv layers for one sample (meta.json `approx_linear_flops`)."""
    return flop_counts(model, example)["flops_linear"]
