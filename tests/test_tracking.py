"""MLflow tracking, read back through MLflow's client: a tiny sweep (`kedro run`, the whole
default pipeline) logged to a temporary SQLite store, sequentially and on a Dask cluster;
one record on fsspec storage, logged once, and a failed one; what stays the same without
mlflow.yml or without the extra.

The sweep: fixed 0 % and 50 % and a gated run (seed 0), and the pruned runs of the
all-ReLU and gated ones: five run records, five nested MLflow runs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from mlflow import MlflowClient

from nonlinearity.run.record import RunRecord
from nonlinearity.run.store import RunStore
from nonlinearity.runner import DaskRunner, ParallelRunner
from nonlinearity.tracking import Tracking
from nonlinearity.tracking.entries import flatten
from nonlinearity.tracking.runs import ensure_experiment, log_run
from tests.conftest import scratch_project
from tests.test_faults import _session

FIXED = """\
train_fixed:
  ratios: [0.0, 0.5]
  patterns: [random]
  seeds: [0]
  layerwise: {pattern: random, default_ratio: 0.0, seeds: [0], schedules: {}}
"""
GATED = """\
train_gated:
  seeds: [0]
  matched_fixed: false
  variants:
    base: {init_alpha: 0.9, l1: 0.5, temperature_end: 0.2, finetune_epochs: 1}
"""
LOCAL = """\
model: {hidden_sizes: [16, 16, 16]}
training: {epochs: 3, device: cpu, threads: 1}
measure: {latency_batch_size: 8, min_run_time_s: 0.01}
benchmark: {min_run_time_s: 0.01, train_steps: 2, compare_rounds: 2}
pruning: {finetune_epochs: 1}
"""
TO_STORE = """\
server:
  mlflow_tracking_uri: {uri}
tracking:
  experiment:
    name: tiny-sweep
"""
DEFAULT_STORE = "tracking: {experiment: {name: tiny-sweep}}\n"  # data/09_tracking/
RECORD_FILES = {"history.json", "meta.json", "timing.json", "model.safetensors"}


def _project(root: Path, mlflow_yml: str | None) -> Path:
    project = scratch_project(root)
    conf = project / "conf"
    (conf / "base" / "parameters_train_fixed.yml").write_text(FIXED)
    (conf / "base" / "parameters_train_gated.yml").write_text(GATED)
    (conf / "local").mkdir(exist_ok=True)
    (conf / "local" / "parameters.yml").write_text(LOCAL)
    if mlflow_yml:
        (conf / "local" / "mlflow.yml").write_text(mlflow_yml)
    return project


def _run(project: Path, **run) -> None:
    with mock.patch.dict(os.environ), _session(project) as session:  # MLflow sets env vars
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        session.run(**run)


def _stored(project: Path) -> dict[str, Path]:
    runs = project / "data" / "07_model_output" / "runs"
    return {p.name: p for p in runs.iterdir()}


def _json(path: Path):
    return json.loads(path.read_text())


class Store:
    """The MLflow store as a user reads it: parents (kedro runs) and their children."""

    def __init__(self, uri: str) -> None:
        self.client = MlflowClient(uri)
        self.experiment = self.client.get_experiment_by_name("tiny-sweep").experiment_id

    def runs(self, where: str = "") -> list:
        return self.client.search_runs([self.experiment], where, order_by=["start_time ASC"])

    def parents(self) -> list:
        return [r for r in self.runs() if "mlflow.parentRunId" not in r.data.tags]

    def children(self, parent) -> dict:
        found = self.runs(f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        return {r.info.run_name: r for r in found}

    def history(self, run, key: str) -> list[tuple[int, float]]:
        points = self.client.get_metric_history(run.info.run_id, key)
        return sorted((m.step, m.value) for m in points)

    def artefact(self, run, path: str) -> bytes:
        return Path(self.client.download_artifacts(run.info.run_id, path)).read_bytes()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> tuple[Path, Store]:
    """The sweep's `kedro run`, then the same command again (every run skipped)."""
    root = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    project = _project(root / "p", TO_STORE.format(uri=uri))
    _run(project)
    _run(project)
    return project, Store(uri)


def test_one_nested_mlflow_run_per_run_record(sequential):
    project, store = sequential
    first, second = store.parents()
    assert first.info.run_name == "__default__" and first.info.status == "FINISHED"
    children = store.children(first)
    assert set(children) == set(_stored(project))  # 3 trained + 2 pruned
    assert len(children) == 5 and store.children(second) == {}  # the re-run skipped all
    for name, run in children.items():
        config = _json(_stored(project)[name] / "meta.json")["config"]
        assert run.info.status == "FINISHED"
        assert {k: run.data.tags[k] for k in ("dataset", "model", "approach", "seed")} == {
            "dataset": "digits",
            "model": "mlp",
            "approach": config["approach"],
            "seed": "0",
        }
    assert sorted(r.data.tags["approach"] for r in children.values()) == [
        "fixed", "fixed", "gating", "pruning", "pruning"
    ]  # fmt: skip


def test_params_are_the_resolved_settings_and_the_fingerprint(sequential):
    project, store = sequential
    for name, run in store.children(store.parents()[0]).items():
        meta = _json(_stored(project)[name] / "meta.json")
        params = run.data.params
        assert params["fingerprint"] == meta["fingerprint"]
        settings = flatten(meta["settings"])
        assert {k: params[k] for k in settings} == {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()
        }
        assert params["training.epochs"] == "3" and params["model.hidden_sizes"] == "[16, 16, 16]"
        if meta["config"]["approach"] == "pruning":
            assert params["source_run"] == meta["config"]["source_run"]
            assert params["pruning.finetune_epochs"] == "1"
    parent = store.parents()[0].data.params
    assert parent["training.epochs"] == "3" and parent["pruning.finetune_epochs"] == "1"


def test_metric_histories_have_one_point_per_epoch(sequential):
    project, store = sequential
    for name, run in store.children(store.parents()[0]).items():
        history = _json(_stored(project)[name] / "history.json")
        epochs = [r for r in history if isinstance(r["epoch"], int)]
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert store.history(run, key) == [(r["epoch"], r[key]) for r in epochs], (name, key)
    gated = next(r for n, r in store.children(store.parents()[0]).items() if "_gated-" in n)
    history = _json(_stored(project)[gated.info.run_name] / "history.json")
    assert [r["epoch"] for r in history] == [1, 2, "hardened", 3]  # 2 soft, 1 fine-tuning
    # a special record: its own metric, at the step of the epoch before it
    assert store.history(gated, "hardened.val_acc") == [(2, history[2]["val_acc"])]
    assert len(store.history(gated, "gating.act0.alpha_mean")) == 3


def test_final_metrics_latency_and_flops(sequential):
    project, store = sequential
    for name, run in store.children(store.parents()[0]).items():
        meta = _json(_stored(project)[name] / "meta.json")
        metrics = run.data.metrics
        for key in ("test_acc", "test_loss", "linear_ratio", "train_time_s"):
            assert metrics[key] == meta["metrics"][key], (name, key)
        assert metrics["nonlinear_units"] == meta["nonlinear_units"]
        assert metrics["total_params"] == meta["param_counts"]["total_params"]
        # from the benchmark, after training: the second run measured again
        assert metrics["latency_p50_s"] == meta["latency"]["p50_latency_s"]
        assert metrics["flops_total"] == meta["benchmark"]["flops_total"]
        assert [s for s, _ in store.history(run, "latency_p50_s.b1")] == [0, 0]


def test_artefacts_are_the_stored_files(sequential):
    project, store = sequential
    parent = store.parents()[0]
    for name, run in store.children(parent).items():
        folder = _stored(project)[name]
        listed = {a.path for a in store.client.list_artifacts(run.info.run_id)}
        assert listed >= RECORD_FILES, name
        for filename in ("history.json", "model.safetensors", "meta.json"):  # meta: benchmarked
            assert store.artefact(run, filename) == (folder / filename).read_bytes(), name
    reporting = project / "data" / "08_reporting"
    for parent in store.parents():  # each kedro run's report and figures
        figures = {a.path for a in store.client.list_artifacts(parent.info.run_id, "figures")}
        assert figures == {f"figures/{p.name}" for p in (reporting / "figures").iterdir()}
    assert store.artefact(parent, "report.md") == (reporting / "report.md").read_bytes()


WORKERS = {
    "dask": lambda: DaskRunner(n_workers=2, threads=1),
    "parallel": lambda: ParallelRunner(max_workers=2, threads=1),
}


@pytest.mark.parametrize("runner", WORKERS)
def test_runs_in_worker_processes_are_logged_by_their_workers(tmp_path, runner):
    """... into the project's store by default: data/09_tracking/{mlflow.db,artifacts/}."""
    project = _project(tmp_path / "p", DEFAULT_STORE)
    runner = WORKERS[runner]()
    _run(project, runner=runner, pipeline_names=["train_fixed"])
    tracking = project / "data" / "09_tracking"
    store = Store(f"sqlite:///{tracking / 'mlflow.db'}")
    (parent,) = store.parents()
    children = store.children(parent)
    assert set(children) == set(_stored(project)) and len(children) == 2
    for name, run in children.items():
        assert run.info.artifact_uri.startswith((tracking / "artifacts").as_uri())
        history = _json(_stored(project)[name] / "history.json")
        assert store.history(run, "val_acc") == [(r["epoch"], r["val_acc"]) for r in history]
        assert (
            run.data.params["fingerprint"]
            == _json(_stored(project)[name] / "meta.json")["fingerprint"]
        )


def test_without_mlflow_yml_nothing_is_logged(tmp_path):
    project = _project(tmp_path / "p", None)
    _run(project, pipeline_names=["data_prep"])
    assert (project / "data" / "03_primary" / "digits").exists()  # data_prep ran
    assert not (project / "data" / "09_tracking").exists()
    assert not [p for p in project.iterdir() if p.name in ("mlflow.db", "mlruns")]


SIMULATED_WITHOUT_EXTRA = """\
import importlib.abc, importlib.metadata, json, os, sys
from pathlib import Path

HIDDEN = ("mlflow", "kedro_mlflow", "kedro-mlflow")


class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, NotInstalled())
_distributions = importlib.metadata.distributions
importlib.metadata.distributions = lambda **kw: [
    d for d in _distributions(**kw) if not d.metadata["Name"].startswith(HIDDEN)
]

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from nonlinearity.errors import ConfigError

project = Path(sys.argv[1])
os.chdir(project)
bootstrap_project(project)
with KedroSession.create(project_path=project) as session:
    session.run(pipeline_names=["data_prep"])
imported = sorted(m for m in sys.modules if m.split(".")[0] in HIDDEN)
(project / "conf" / "local" / "mlflow.yml").write_text("tracking: {}\\n")
try:
    with KedroSession.create(project_path=project) as session:
        session.load_context()
    error = None
except ConfigError as exc:
    error = str(exc)
print(json.dumps({"imported": imported, "error": error}))
"""


def test_without_the_extra_nothing_is_imported_and_mlflow_yml_stops_with_one_line(tmp_path):
    project = _project(tmp_path / "p", None)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SIMULATED_WITHOUT_EXTRA, str(project)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["imported"] == []
    assert out["error"] == (
        "conf has a mlflow.yml, which switches MLflow tracking on, and kedro_mlflow is not "
        "installed: pip install -e '.[mlflow]', or remove mlflow.yml"
    )
    assert (project / "data" / "03_primary" / "digits").exists()  # data_prep ran


def _record(name: str, status: str = "complete") -> RunRecord:
    meta = {
        "run_name": name,
        "status": status,
        "fingerprint": "f" * 64,
        "metrics": {"val_acc": 0.5, "test_acc": 0.25, "train_time_s": 1.5},
        "settings": {"dataset": "digits", "training": {"lr": 0.001, "epochs": 2}},
        "config": {"dataset": "digits", "model": {"name": "mlp"}, "approach": "fixed", "seed": 1},
    }
    history = [{"epoch": 1, "val_acc": 0.25}, {"epoch": 2, "val_acc": None}]  # None: non-finite
    weights = {"w": torch.ones(2)} if status == "complete" else None
    return RunRecord(name, history, meta, weights=weights)


def test_a_record_on_fsspec_storage_is_logged_once_and_a_failed_one_as_failed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_experiment(uri, "tiny-sweep", (tmp_path / "artifacts").as_uri())
    store = Store(uri)
    parent = store.client.create_run(store.experiment, run_name="__default__").info.run_id
    tracking = Tracking(uri, store.experiment, parent)
    runs = RunStore(f"memory://tracking-{tmp_path.name}/07_model_output")
    runs.save(_record("digits_mlp_fixed_0_s1_c000001"))
    runs.save(_record("digits_mlp_fixed_0_s2_c000002", status="failed"))

    done = log_run(tracking, runs, "digits_mlp_fixed_0_s1_c000001")
    assert log_run(tracking, runs, "digits_mlp_fixed_0_s1_c000001") == done  # once per record
    run = store.client.get_run(done)
    assert run.info.status == "FINISHED" and run.data.tags["seed"] == "1"
    assert run.info.end_time - run.info.start_time == 1500  # its training: train_time_s
    assert run.data.params == {
        "dataset": "digits",
        "training.lr": "0.001",
        "training.epochs": "2",
        "fingerprint": "f" * 64,
    }
    assert store.history(run, "val_acc") == [(1, 0.25)]  # the non-finite point left out
    assert run.data.metrics["test_acc"] == 0.25
    listed = {a.path for a in store.client.list_artifacts(done)}
    assert listed == RECORD_FILES  # not the store's marker _COMPLETE
    assert store.artefact(run, "meta.json").decode() == runs.text(run.info.run_name, "meta.json")

    runs.save(_record("digits_mlp_fixed_0_s1_c000001"))  # trained again: another record
    assert log_run(tracking, runs, "digits_mlp_fixed_0_s1_c000001") != done
    failed = store.client.get_run(log_run(tracking, runs, "digits_mlp_fixed_0_s2_c000002"))
    assert failed.info.status == "FAILED" and failed.data.tags["status"] == "failed"
    assert "model.safetensors" not in {
        a.path for a in store.client.list_artifacts(failed.info.run_id)
    }
