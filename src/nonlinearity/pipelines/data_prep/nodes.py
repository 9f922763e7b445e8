"""Nodes of data_prep."""

from __future__ import annotations

import logging
from typing import Any

from ...data import RawData, Splits, make_splits

log = logging.getLogger(__name__)


def split_data(raw: RawData, data_params: dict[str, Any]) -> Splits:
    """Raw data -> `Splits`: val carved from train, test carved only when the source has none."""
    splits = make_splits(
        raw,
        val_fraction=float(data_params.get("val_fraction", 0.1)),
        test_fraction=float(data_params.get("test_fraction", 0.2)),
        seed=int(data_params.get("split_seed", 0)),
        data_params=data_params,
    )
    log.info(
        "%s%s splits: %s, %s input %s",
        splits.name,
        " (synthetic)" if splits.synthetic else "",
        splits.sizes(),
        splits.kind,
        splits.input_shape if splits.kind != "text" else "sentences",
    )
    return splits
