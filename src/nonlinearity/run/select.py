"""Which stored runs a later pipeline acts on, and the model input each one trained on.

`select` is fnmatch patterns of run names joined by `|` (`*` for every run):
`digits_mlp_fixed_*|*gated-base_s0_*`. Only complete runs are selected.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import DataUnavailableError
from .record import is_result
from .store import RunStore

log = logging.getLogger(__name__)

TRAIN_FIRST = "train runs first (kedro run), then run this pipeline"


def select_runs(
    store: RunStore, select: str = "*", approaches: tuple[str, ...] | None = None
) -> list[str]:
    """Complete runs whose name matches `select` (and whose approach is one of `approaches`)."""
    patterns = str(select or "*").split("|")
    out, failed = [], []
    for name in store.names():
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        meta = store.meta(name)
        if meta is None or "config" not in meta:
            log.warning("%s left out: its meta.json is not valid JSON of a run", name)
            continue
        if not is_result(meta):
            failed.append(name)
            continue
        if approaches is None or meta.get("config", {}).get("approach") in approaches:
            out.append(name)
    if not out and failed:
        raise DataUnavailableError(
            f"the {len(failed)} runs matching select={select!r} failed (meta.json says why): "
            f"{', '.join(failed)}"
        )
    if not out:
        raise DataUnavailableError(
            f"no complete run in {store.shown(store.runs)}/ matches select={select!r}: "
            f"{TRAIN_FIRST}"
        )
    return out


def matching_input(
    store: RunStore, name: str, model_inputs: Mapping[str, Callable[[], Any]]
) -> Any | None:
    """The model input `name` trained on (same data set, same fingerprint), or None."""
    meta = store.meta(name) or {}
    dataset = meta.get("config", {}).get("dataset")
    load = model_inputs.get(dataset)
    if load is None:
        return None
    splits = load()
    from ..data.prepare import data_fingerprint

    if data_fingerprint(splits) != (meta.get("provenance") or {}).get("model_input"):
        return None
    return splits
