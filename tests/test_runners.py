"""The runners: the same sweep gives the same runs sequentially, in processes and on a
Dask cluster; a killed Dask worker is reported and a second command resumes its runs.

The sweep (6 runs: fixed 0 % and 50 % x 2 seeds, a gated run and its matched run) runs
as the whole `__default__` pipeline, so every hand-over between nodes (splits, run
names, pruned runs, records, summary) crosses processes through the catalog's files.
"""

import json
import logging
import threading
import time
from pathlib import Path

import psutil
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from nonlinearity.device import cpu_threads, thread_budget
from nonlinearity.errors import ConfigError
from nonlinearity.runner import check_persisted, gpu_request, incomplete
from tests.test_faults import ENV, Kedro, _copy, _names, _runs, _scaffold, _session

FIXED = """\
train_fixed:
  ratios: [0.0, 0.5]
  patterns: [random]
  seeds: [0, 1]
  layerwise: {pattern: random, default_ratio: 0.0, seeds: [0], schedules: {}}
"""
GATED = """\
train_gated:
  seeds: [0]
  matched_fixed: true
  variants:
    base: {init_alpha: 0.9, l1: 0.5, temperature_end: 0.2, finetune_epochs: 1}
"""
LOCAL = """\
model: {hidden_sizes: [128, 128, 128]}
training: {epochs: 6, device: cpu, threads: 1}
measure: {latency_batch_size: 8, min_run_time_s: 0.01}
benchmark: {min_run_time_s: 0.01, train_steps: 2, compare_rounds: 2}
"""
RUNS = {"fixed_0_s0", "fixed_0_s1", "fixed_50_s0", "fixed_50_s1", "gated-base_s0"}
RUNS |= {"matched-base_s0"}
RUNNERS = {
    "sequential": (),
    "parallel": ("--runner=ParallelRunner", "--runner-params=max_workers=2"),
    "dask": ("--runner=DaskRunner", "--runner-params=n_workers=2"),
}


def _results(project: Path) -> dict[str, tuple[bytes, bytes]]:
    """Every stored run's history and weights, by run name."""
    return {
        name: ((_runs(project) / name / "history.json").read_bytes(), _weights(project, name))
        for name in sorted(_names(project))
    }


def _weights(project: Path, name: str) -> bytes:
    folder = _runs(project) / name
    return b"".join(p.read_bytes() for p in sorted(folder.glob("*.safetensors")))


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> Path:
    project = _scaffold(tmp_path_factory.mktemp("sweep"))
    conf = project / "conf"
    (conf / "base" / "parameters_train_fixed.yml").write_text(FIXED)
    (conf / "base" / "parameters_train_gated.yml").write_text(GATED)
    (conf / "local" / "parameters.yml").write_text(LOCAL)
    return project


@pytest.fixture(scope="module")
def swept(small_sweep, tmp_path_factory) -> dict[str, Path]:
    """The small sweep's `kedro run` with each runner, from empty data, side by side."""
    projects = {k: _copy(small_sweep, tmp_path_factory.mktemp(k) / "p") for k in RUNNERS}
    started = {k: Kedro(projects[k], "run", *args) for k, args in RUNNERS.items()}
    for k, run in started.items():
        done = run.wait(timeout=600)
        assert done.rc == 0, f"{k}: {done}"
        assert "6 runs: 6 trained, 0 skipped" in " ".join(done.messages), done
    return projects


def test_sequential_parallel_and_dask_store_identical_runs(swept):
    reference = _results(swept["sequential"])
    assert len(reference) == 6 + 3  # and pruned runs of fixed_0_s0, fixed_0_s1, gated-base_s0
    assert {n.split("_", 2)[2].rsplit("_c", 1)[0] for n in reference} >= RUNS
    for runner in ("parallel", "dask"):
        assert _results(swept[runner]) == reference, runner
        report = swept[runner] / "data" / "08_reporting" / "report.md"
        assert "fixed 50%" in report.read_text()
    for name in reference:  # one CPU thread each, as training.threads pins it
        meta = json.loads((_runs(swept["dask"]) / name / "meta.json").read_text())
        assert meta["provenance"]["threads"] == 1, name


def test_killed_dask_workers_are_reported_and_their_runs_resume(small_sweep, swept, tmp_path):
    project = _copy(small_sweep, tmp_path / "p")
    local = project / "conf" / "local" / "parameters.yml"
    local.write_text(local.read_text().replace("epochs: 6", "epochs: 6, checkpoint_every: 1"))
    env = {**ENV, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}  # report at once
    run = Kedro(project, "run", *RUNNERS["dask"], env=env)
    partial = project / "data" / "07_model_output" / "partial"
    killed = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.proc.poll() is None and not killed:
        if list(partial.glob("*/checkpoint.pt")):
            for child in psutil.Process(run.proc.pid).children(recursive=True):
                if "spawn_main" in " ".join(child.cmdline()):  # a worker, not the tracker
                    child.kill()  # SIGKILL
                    killed.append(child.pid)
        time.sleep(0.02)
    done = run.wait(timeout=600)
    assert killed, done
    assert done.rc == 2, done
    line = done.last_error_line
    stored = {n.split("_", 2)[2].rsplit("_c", 1)[0] for n in _names(project)}
    head, _, names = line.partition(" did not finish (its worker died): ")
    named = set(names.split(";")[0].split(", "))
    # every run without a record is named, or comes after one that is (the matched run)
    assert named and named <= RUNS - stored and RUNS - stored - named <= {"matched-base_s0"}
    assert head == f"Error: {len(named)} run{'s' if len(named) > 1 else ''}", line
    assert line.endswith("Run the same command again: complete runs are skipped, cut ones "
                         "resume from their checkpoints"), line  # fmt: skip
    cut = RUNS - stored

    again = Kedro(project, "run", *RUNNERS["dask"]).wait(timeout=600)
    assert again.rc == 0, again
    log = " ".join(again.messages)
    assert any("resumed from its checkpoint" in m for m in again.messages), again
    assert f"6 runs: {len(cut)} trained, {6 - len(cut)} skipped" in log, again
    assert _results(project) == _results(swept["sequential"])


# --- the pieces, without a cluster --------------------------------------------------------
def _identity(x):
    return x


def _gather(*xs):
    return xs


def test_a_dataset_passed_in_memory_is_refused_before_any_work():
    pipeline = Pipeline(
        [node(_identity, "a", "b", name="first"), node(_identity, "b", "c", name="second")]
    )
    catalog = DataCatalog({"a": MemoryDataset(1)})
    with pytest.raises(ConfigError) as err:
        check_persisted(pipeline, catalog)
    assert str(err.value) == (
        "DaskRunner: nodes on a cluster meet only through persisted datasets, and b would "
        "pass in memory: give them a file dataset in conf/base/catalog.yml"
    )


def test_the_default_pipeline_hands_over_only_through_files(tmp_path):
    project = _scaffold(tmp_path / "p")
    with _session(project) as session:
        from kedro.framework.project import pipelines

        catalog = session.load_context().catalog
        check_persisted(pipelines["__default__"], catalog)  # raises on a MemoryDataset


def _catalog(device: str, model: dict) -> DataCatalog:
    return DataCatalog(
        {
            "params:training": MemoryDataset({"device": device}),
            "params:model": MemoryDataset(model),
        }
    )


def _train_node():
    return node(_identity, ["params:training"], "x", name="fixed_0_s0.train")


@pytest.mark.parametrize(
    ("device", "model", "gpus", "asked"),
    [
        ("cpu", {"name": "resnet18_head", "target": "backbone"}, True, {}),
        ("auto", {"name": "mlp"}, False, {}),  # no GPU worker: the run stays on CPUs
        ("auto", {"name": "mlp"}, True, {"GPU": 0.25}),
        ("cuda", {"name": "resnet18_head", "target": "backbone"}, False, {"GPU": 1.0}),
        ("cuda:1", {"name": "resnet18_head", "freeze_backbone": True, "target": "head"}, True,
         {"GPU": 0.25}),  # a head on cached features
        ("cuda", {"name": "transformer", "target": "all"}, True, {"GPU": 1.0}),
    ],
)  # fmt: skip
def test_training_nodes_ask_for_a_gpu_share(device, model, gpus, asked):
    assert gpu_request(_train_node(), _catalog(device, model), gpus, 0.25) == asked
    other = node(_identity, "params:training", "y", name="benchmark_runs")
    assert gpu_request(other, _catalog(device, model), gpus, 0.25) == {}


_RUNNING, _MOST, _LOCK = [0], {}, threading.Lock()


def _occupy(name: str) -> None:
    """A task that notes how many tasks ran at once with it (threads of one process)."""
    with _LOCK:
        _RUNNING[0] += 1
        _MOST[name] = _RUNNING[0]
    time.sleep(0.3)
    with _LOCK:
        _MOST[name] = max(_MOST[name], _RUNNING[0])
        _RUNNING[0] -= 1


def test_small_runs_share_one_gpu_worker_and_a_full_model_takes_it_alone():
    """What gpu_request relies on in Dask: fractional resources, counted per worker."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=4,
            processes=False,
            resources={"GPU": 1},
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        heads = [client.submit(_occupy, f"head{i}", resources={"GPU": 0.25}) for i in range(4)]
        client.gather(heads)
        assert max(_MOST[f"head{i}"] for i in range(4)) == 4  # all four at once
        both = [client.submit(_occupy, f"full{i}", resources={"GPU": 1.0}) for i in range(2)]
        client.gather(both)
        assert _MOST["full0"] == _MOST["full1"] == 1  # one at a time


def test_incomplete_names_the_runs_and_counts_what_did_not_run():
    pipeline = Pipeline(
        [
            node(_identity, "m", "a", name="fixed_0_s0.train"),
            node(_identity, "m", "b", name="fixed_50_s0.train"),
            node(_identity, "m", "c", name="fixed_50_s1.train"),
            node(_gather, ["a", "b", "c"], "d", name="report"),
        ]
    )
    died = "its worker died"
    line = incomplete(
        pipeline, {"fixed_0_s0.train": died, "fixed_50_s0.train": died, "report": died}
    )
    assert line == (
        "2 runs did not finish (its worker died): fixed_0_s0, fixed_50_s0; 1 node after them "
        "did not run; the other 1 finished. Run the same command again: complete runs are "
        "skipped, cut ones resume from their checkpoints"
    )


def test_thread_budget_and_pinned_threads():
    assert thread_budget(2, cores=2) == 1
    assert thread_budget(3, cores=16) == 5
    assert thread_budget(8, cores=2) == 1  # never 0
    import torch

    before = torch.get_num_threads()
    with cpu_threads(1) as n:
        assert n == torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_parallel_runner_workers_start_on_their_thread_budget():
    import torch

    from nonlinearity.runner import ParallelRunner

    # torch's own function: a function of this module would import tests/conftest.py in
    # the worker, which sets the threads itself
    for threads, expected in ((None, thread_budget(2)), (3, 3)):
        with ParallelRunner(max_workers=2, threads=threads)._get_executor(2) as pool:
            assert pool.submit(torch.get_num_threads).result(timeout=120) == expected
