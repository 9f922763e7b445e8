"""A run's record: history, meta and timing as strict JSON, with a status.

    runs/<name>/history.json   epoch records (guide §5.1), no timings: same settings,
                               same bytes on CPU
    runs/<name>/meta.json      guide §5.2 plus status, fingerprint, settings, provenance
    runs/<name>/timing.json    seconds per epoch and per phase (they differ run to run)
    runs/<name>/model.safetensors   the weights (complete runs only)
    runs/<name>/_COMPLETE      on storage without atomic renames (not a local disk): the
                               marker written last, without which the folder is no run

`status` is `complete` (a result) or `failed` (not a result: `error` says why, e.g. a
non-finite loss). Files are strict JSON: a non-finite float is written as null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

COMPLETE, FAILED = "complete", "failed"
TIMING_KEYS = ("epoch_time_s",)


def strict(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(strict(obj), indent=2, allow_nan=False) + "\n"


def split_timing(history: list[dict]) -> tuple[list[dict], list[dict]]:
    """Epoch records -> (records without timing fields, [{epoch, phase, <timing>}])."""
    clean, timing = [], []
    for r in history:
        clean.append({k: v for k, v in r.items() if k not in TIMING_KEYS})
        t = {k: r[k] for k in TIMING_KEYS if k in r}
        if t:
            timing.append({"epoch": r["epoch"], "phase": r.get("phase"), **t})
    return clean, timing


@dataclass
class RunRecord:
    """Everything one run leaves: written together, or not at all (see `store.RunStore`)."""

    name: str
    history: list[dict]
    meta: dict
    timing: dict = field(default_factory=dict)
    weights: Mapping[str, Any] | None = None  # name -> tensor; None for a failed run
    module_state: dict = field(default_factory=dict)  # non-tensor state needed to rebuild
    files: dict[str, str] = field(default_factory=dict)  # more files of the run: name -> text
    extra_weights: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # file -> state
    skipped: bool = False  # a complete record with this fingerprint is already stored
    not_trained: str = ""  # why the run is not trained nor stored (it is another run)

    @property
    def stored(self) -> bool:
        """Whether saving writes it (not when skipped or not trained)."""
        return not (self.skipped or self.not_trained)

    @property
    def status(self) -> str:
        return self.meta.get("status", COMPLETE)

    @property
    def fingerprint(self) -> str:
        return self.meta["fingerprint"]


def is_result(meta: Mapping[str, Any]) -> bool:
    """A record that may be reported as a result (records before statuses were complete)."""
    return meta.get("status", COMPLETE) == COMPLETE


def result_metrics(
    last: Mapping[str, Any],
    test: Mapping[str, float],
    linear_ratio: float | None,
    train_time_s: float,
    **more: Any,
) -> dict[str, Any]:
    """meta.json `metrics`: the last record's validation, the test split, the linear share."""
    return {
        "val_acc": last["val_acc"],
        "val_loss": last["val_loss"],
        "test_acc": test["acc"],
        "test_loss": test["loss"],
        **{f"test_{k}": v for k, v in test.items() if k.startswith("top")},
        "linear_ratio": linear_ratio,
        **more,
        "train_time_s": train_time_s,
    }


def run_meta(
    name: str,
    status: str,
    metrics: Mapping[str, Any],
    identity: Mapping[str, Any],
    efficiency: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One meta.json for trained and pruned runs alike: guide §5.2 (efficiency, config)
    with `status` and the identity fields (`fingerprint`, `settings`, `provenance`)."""
    return {
        "run_name": name,
        "status": status,
        **(efficiency or {}),
        "metrics": dict(metrics),
        **extra,
        **identity,
    }
