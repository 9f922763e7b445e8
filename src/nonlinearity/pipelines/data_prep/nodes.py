"""Nodes of data_prep."""

from __future__ import annotations

import logging
from typing import Any

from ...data import RawData, Splits, make_splits

log = logging.getLogger(__name__)


def split_data(raw: RawData, data_params: dict[str, Any]) -> Splits:
    """Raw arrays -> `Splits`: val carved from train, test carved only when the source has none."""
    splits = make_splits(
        raw,
        val_fraction=float(data_params.get("val_fraction", 0.1)),
        test_fraction=float(data_params.get("test_fraction", 0.2)),
        seed=int(data_params.get("split_seed", 0)),
    )
    log.info("%s splits: %s, input %s", splits.name, splits.sizes(), splits.input_shape)
    return splits
