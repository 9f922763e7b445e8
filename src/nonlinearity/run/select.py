"""Which stored runs a later pipeline acts on, and the model input each one trained on.

`select` is fnmatch patterns of run names joined by `|` (`*` for every run):
`digits_mlp_fixed_*|*gated-base_s0_*`. Only complete runs are selected. In the
default pipeline, `among` narrows them to the runs the sweep just trained or skipped
(its training nodes' `<key>.run_name` outputs): this data set's, of these settings.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..errors import DataUnavailableError
from .record import is_result
from .store import RunStore

log = logging.getLogger(__name__)

TRAIN_FIRST = "train runs first (kedro run), then run this pipeline"


def select_runs(
    store: RunStore,
    select: str = "*",
    approaches: tuple[str, ...] | None = None,
    among: Collection[str] | None = None,
) -> list[str]:
    """Complete runs whose name matches `select` (and whose approach is one of `approaches`,
    and that are `among` these names, when given); none is an error that says why."""
    out, failed = _picked(store, select, approaches, among)
    if not out and failed:
        raise DataUnavailableError(
            f"the {len(failed)} runs matching select={select!r} failed (meta.json says why): "
            f"{', '.join(failed)}"
        )
    if not out:
        of = " among this sweep's runs" if among is not None else ""
        raise DataUnavailableError(
            f"no complete run in {store.shown(store.runs)}/{of} matches select={select!r}: "
            f"{TRAIN_FIRST}"
        )
    return out


def select_run(
    store: RunStore, select: str, name: str, approaches: tuple[str, ...] | None = None
) -> list[str]:
    """[`name`] when `select_runs` would pick it, else [] (a run's own node in the default
    pipeline: "" is a run not trained, a failed run has no results to act on)."""
    return _picked(store, select, approaches, [name])[0] if name else []


def _picked(
    store: RunStore,
    select: str,
    approaches: tuple[str, ...] | None,
    among: Collection[str] | None,
) -> tuple[list[str], list[str]]:
    """(complete runs picked, failed runs that `select` matched)."""
    patterns = str(select or "*").split("|")
    out, failed = [], []
    for name in store.names():
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        if among is not None and name not in among:
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
    return out, failed


def sweep_runs(runs: tuple[str, ...]) -> list[str] | None:
    """The names the training nodes gave ("": not trained), or None when none were given
    (a pipeline run alone acts on every stored run that `select` picks)."""
    return [r for r in runs if r] if runs else None


REBUILD_INPUT = (
    "their model input in data/05_model_input/ was made by other settings or is gone: "
    "run data_prep with the settings they trained with"
)


def inputs_of(
    store: RunStore, names: list[str], model_inputs: Mapping[str, Callable[[], Any]]
) -> dict[str, Any]:
    """Each run's model input (its data set's, with the fingerprint it trained on), checked
    before any work; each data set is loaded once; runs without theirs are named."""
    from ..data.prepare import data_fingerprint

    loaded: dict[str, Any] = {}
    found, missing = {}, []
    for name in names:
        meta = store.meta(name) or {}
        dataset = meta.get("config", {}).get("dataset")
        if dataset not in loaded:
            load = model_inputs.get(dataset)
            loaded[dataset] = load() if load is not None else None
        splits = loaded[dataset]
        trained_on = (meta.get("provenance") or {}).get("model_input")
        if splits is None or data_fingerprint(splits) != trained_on:
            missing.append(name)
        else:
            found[name] = splits
    if missing:
        log.warning("%d runs left out, %s: %s", len(missing), REBUILD_INPUT, ", ".join(missing))
    if not found:
        raise DataUnavailableError(
            f"none of the {len(names)} selected runs can be read: {REBUILD_INPUT}"
        )
    return found
