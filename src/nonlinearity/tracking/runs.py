"""What a stored run becomes in MLflow: one run, nested under the kedro run's, by explicit
client calls on run ids (no active run, so any process may log any run).

    params, metrics   `entries`: settings and fingerprint; histories, finals, benchmark
    tags              dataset, model, approach, seed, status; mlflow.parentRunId
    artefacts         the run's files as stored (history.json, meta.json, timing.json,
                      weights); meta.json again once the benchmark has merged its figures

A run is logged once per record (its fingerprint and `completed_at`): a record that a later
`kedro run` skips is logged then only if MLflow has no run of it. The MLflow run spans the
record's training: it ends at `completed_at` and lasts `train_time_s`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from .entries import (
    benchmark_metrics,
    final_metrics,
    flatten,
    history_metrics,
    is_number,
    run_params,
)
from .hook import Tracking

log = logging.getLogger(__name__)

SOURCE_TAGS = (
    "mlflow.user",
    "mlflow.source.name",
    "mlflow.source.type",
    "mlflow.source.git.commit",
)


@cache
def client(uri: str) -> MlflowClient:
    """One client per store and process (a SQLite store takes ~1 s to open)."""
    return MlflowClient(tracking_uri=uri)


def ensure_experiment(uri: str, name: str, artifact_location: str) -> None:
    """Create the experiment with its artefacts at `artifact_location`, unless it exists."""
    mlflow = client(uri)
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=artifact_location)


def parent_tracking(uri: str, parent_run_id: str) -> Tracking:
    """Where the nodes log: the parent run's experiment and the tags its children copy."""
    parent = client(uri).get_run(parent_run_id)
    tags = tuple((k, v) for k, v in parent.data.tags.items() if k in SOURCE_TAGS)
    return Tracking(uri, parent.info.experiment_id, parent_run_id, tags)


def log_parent(tracking: Tracking, params: Mapping[str, Any], tags: Mapping[str, Any]) -> None:
    """The parameters the pipeline reads (flattened), and tags, on the parent run."""
    client(tracking.uri).log_batch(
        tracking.parent_run_id,
        params=_params(flatten(params)),
        tags=[RunTag(k, str(v)) for k, v in tags.items() if v is not None],
        synchronous=True,
    )


def log_parent_file(tracking: Tracking, path: str, artifact_path: str | None = None) -> None:
    """A file a node saved (report.md, a figure) as an artefact of the parent run."""
    _log_file(client(tracking.uri), tracking.parent_run_id, path, artifact_path)


def find_run(tracking: Tracking, name: str, fingerprint: str | None) -> Any:
    """The latest MLflow run of this run name and fingerprint in the experiment, or None."""
    where = f"attributes.run_name = '{name}'"
    if fingerprint:
        where += f" AND params.fingerprint = '{fingerprint}'"
    found = client(tracking.uri).search_runs(
        [tracking.experiment_id],
        filter_string=where,
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0] if found else None


def log_run(tracking: Tracking, store: Any, name: str) -> str | None:
    """The stored run `name` as a child of the parent run -> its MLflow run id (None: no
    record). A record that MLflow already has a run of is not logged again."""
    meta = store.meta(name)
    if meta is None:
        return None
    found = find_run(tracking, name, meta.get("fingerprint"))
    if found is not None and found.data.tags.get("completed_at") == meta.get("completed_at"):
        return found.info.run_id
    mlflow = client(tracking.uri)
    end = _ms(meta.get("completed_at")) or _now()
    train_s = (meta.get("metrics") or {}).get("train_time_s")
    start = end - int(1000 * train_s) if is_number(train_s) else end
    tags = _tags(tracking, meta)
    run = mlflow.create_run(tracking.experiment_id, start_time=start, tags=tags, run_name=name)
    run_id = run.info.run_id
    try:
        history = [m for r in history_metrics(store.history(name)) for m in _metrics(r, end)]
        logged = {m.key for m in history}
        finals = {k: v for k, v in final_metrics(meta).items() if k not in logged}
        mlflow.log_batch(
            run_id,
            metrics=history + _metrics((finals, 0), end),
            params=_params(run_params(meta)),
            synchronous=True,
        )
        log_files(mlflow, run_id, store, name)
    except Exception:
        mlflow.delete_run(run_id)  # half a run: the next kedro run logs it whole
        raise
    ok = meta.get("status", "complete") == "complete"
    status = RunStatus.to_string(RunStatus.FINISHED if ok else RunStatus.FAILED)
    mlflow.set_terminated(run_id, status=status, end_time=end)
    return run_id


def log_benchmark(tracking: Tracking, store: Any, updates: Mapping[str, Mapping]) -> list[str]:
    """The benchmark's figures (its meta.json updates, now merged) on each measured run's
    MLflow run, with its meta.json again -> the runs that have no MLflow run."""
    mlflow, now, missing = client(tracking.uri), _now(), []
    for name, update in updates.items():
        found = find_run(tracking, name, (store.meta(name) or {}).get("fingerprint"))
        if found is None:
            missing.append(name)
            continue
        metrics = _metrics((benchmark_metrics(update), 0), now)
        mlflow.log_batch(found.info.run_id, metrics=metrics, synchronous=True)
        log_files(mlflow, found.info.run_id, store, name, only={"meta.json"})
    return missing


def log_files(mlflow: MlflowClient, run_id: str, store: Any, name: str, only=None) -> None:
    """The run's files, as stored, on the run store's file system (its marker `_COMPLETE`
    and temporary files left out)."""
    fs, folder = store.storage.fs, f"{store.runs}/{name}"
    for path in sorted(fs.ls(folder, detail=False)):
        filename = Path(path).name
        if (only is None or filename in only) and not filename.startswith(("_", ".")):
            if fs.isfile(path):
                _log_file(mlflow, run_id, path, None, fs)


def _log_file(mlflow: MlflowClient, run_id: str, path: str, artifact_path, fs=None) -> None:
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    fs, path = (fs, path) if fs is not None else url_to_fs(str(path))
    if isinstance(fs, LocalFileSystem):
        mlflow.log_artifact(run_id, path, artifact_path)
        return
    with TemporaryDirectory() as tmp:
        local = Path(tmp) / Path(path).name
        fs.get(path, str(local))
        mlflow.log_artifact(run_id, str(local), artifact_path)


def _tags(tracking: Tracking, meta: Mapping[str, Any]) -> dict[str, str]:
    config = meta.get("config") or {}
    tags = {
        **dict(tracking.source_tags),
        MLFLOW_PARENT_RUN_ID: tracking.parent_run_id,
        "dataset": config.get("dataset"),
        "model": (config.get("model") or {}).get("name"),
        "approach": config.get("approach"),
        "seed": config.get("seed"),
        "status": meta.get("status", "complete"),
        "completed_at": meta.get("completed_at"),  # with the fingerprint: which record
    }
    return {k: str(v) for k, v in tags.items() if v is not None}


def _params(values: Mapping[str, Any]) -> list[Param]:
    out = []
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > MAX_PARAM_VAL_LENGTH:
            log.warning("MLflow: param %s truncated to %d characters", key, MAX_PARAM_VAL_LENGTH)
            text = text[:MAX_PARAM_VAL_LENGTH]
        out.append(Param(key, text))
    return out


def _metrics(values_step: tuple[Mapping[str, Any], int], timestamp: int) -> list[Metric]:
    values, step = values_step
    return [Metric(k, float(v), timestamp, step) for k, v in values.items() if is_number(v)]


def _now() -> int:
    return int(time.time() * 1000)


def _ms(iso: Any) -> int:
    try:
        return int(datetime.fromisoformat(str(iso)).timestamp() * 1000)
    except ValueError:
        return 0
