"""The records of history.json, read by training, pruning and reporting (no torch here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def linear_share(gating: Sequence[Mapping[str, Any]]) -> float | None:
    """Share of activation neurons that are linear: 1 - mean alpha, weighted by layer width.

    `gating` is a record's per-layer list (`num_features`, `alpha_mean`, ...); None when empty.
    """
    total = sum(s["num_features"] for s in gating)
    if not total:
        return None
    return sum(s["num_features"] * (1 - s["alpha_mean"]) for s in gating) / total
