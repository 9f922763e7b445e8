"""A whole Kedro session on the embedded default, and the CLI, in a scratch copy of the project."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from nonlinearity.cli import colon_params
from nonlinearity.errors import DataUnavailableError, one_line
from nonlinearity.reporting import FIGURES
from tests.conftest import (
    DEFAULT_RUNS,
    LATENCY_KEYS,
    REPO,
    free_port,
    run_default,
    scratch_project,
)

FAST = {
    "training": {"epochs": 2},
    "measure": {"latency_batch_size": 8, "min_run_time_s": 0.01},
    "model": {"hidden_sizes": [32, 32, 32]},
    "benchmark": {"min_run_time_s": 0.01, "train_steps": 2, "compare_rounds": 2},
    "train_gated": {"variants": {"base": {"finetune_epochs": 1}}},
    "pruning": {"finetune_epochs": 1},
}
SUMMARY = (
    "{} runs: {} trained, {} skipped (complete record, same fingerprint; "
    "--params=rerun=true trains them again), {} failed"
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return scratch_project(tmp_path)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "data").rglob("*") if p.is_file())


def _run(runs: Path, key: str) -> Path:
    """The one stored run of this key (names end in a settings digest)."""
    (found,) = runs.glob(f"digits_mlp_{key}_c*")
    return found


def _json(path: Path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def studied(tmp_path_factory) -> Path:
    """A scratch project after `kedro run` (the default pipeline, tiny settings)."""
    project = scratch_project(tmp_path_factory.mktemp("studied"))
    run_default(project, FAST)
    return project


PRUNED = [f"pruned-{k}" for k in DEFAULT_RUNS if k.startswith(("fixed_0_", "gated-"))]


def test_default_pipeline_session(studied):
    """`kedro run`: the sweep (three seeds, matched runs), then activation analysis, pruning
    of the all-ReLU and gated runs, the benchmark and the report."""
    runs = studied / "data" / "07_model_output" / "runs"
    assert sorted(p.name.rsplit("_c", 1)[0] for p in runs.iterdir()) == sorted(
        f"digits_mlp_{r}" for r in DEFAULT_RUNS + PRUNED
    )
    meta = _json(_run(runs, "fixed_50_s0") / "meta.json")
    assert meta["config"]["approach"] == "fixed" and meta["config"]["training"]["epochs"] == 2
    assert meta["config"]["epochs_budget"] == {"train": 2, "total": 2}
    assert meta["status"] == "complete" and meta["nonlinear_units"] == 48
    assert meta["settings"]["data"]["split_seed"] == 0 and len(meta["fingerprint"]) == 64
    assert meta["provenance"]["model_input"] and meta["provenance"]["torch"]
    assert set(meta["latency"]) >= LATENCY_KEYS
    gated_dir = _run(runs, "gated-base_s0")
    gated = _json(gated_dir / "history.json")
    assert [r["epoch"] for r in gated] == [1, "hardened", 2]  # training.epochs in all
    assert _json(gated_dir / "meta.json")["config"]["epochs_budget"] == {
        "soft": 1,
        "finetune": 1,
        "total": 2,
    }
    assert {p.name for p in gated_dir.iterdir()} >= {
        "history.json",
        "meta.json",
        "model.safetensors",
        "timing.json",
    }
    for seed in (0, 1, 2):  # each matched run: its gated run's hardened shares, per layer
        source = _run(runs, f"gated-base_s{seed}")
        matched = _json(_run(runs, f"matched-base_s{seed}") / "meta.json")["config"]
        (hardened,) = [r for r in _json(source / "history.json") if r["epoch"] == "hardened"]
        assert matched["approach"] == "matched" and matched["source_run"] == source.name
        assert matched["layer_ratios"] == [1 - s["alpha_mean"] for s in hardened["gating"]]

    for key in DEFAULT_RUNS:  # activation statistics of every run of the sweep
        stats = _json(_run(runs, key) / "activation_stats.json")
        assert stats["samples"] == stats["split_samples"] == 144 and stats["split"] == "val"
        assert stats["sample_class_counts"] == stats["split_class_counts"]
        assert list(stats["layers"]) == ["act0", "act1", "act2"]
    stats = _json(gated_dir / "activation_stats.json")
    final_gates = [s["alpha_mean"] for s in gated[-1]["gating"]]  # the model as saved
    assert [v["gating_alpha_mean"] for v in stats["layers"].values()] == final_gates
    layers = pd.read_csv(_run(runs, "fixed_0_s0") / "activation_layers.csv")
    assert list(layers.layer_idx) == [0, 1, 2] and (layers.num_features == 32).all()
    for pruned_key in PRUNED:
        pruned = _run(runs, pruned_key)
        source = _run(runs, pruned_key.removeprefix("pruned-"))
        meta = _json(pruned / "meta.json")
        assert meta["config"]["approach"] == "pruning" and meta["config"]["source_run"] == (
            source.name
        )
        assert meta["config"]["epochs_budget"] == {"source": 2, "finetune": 1, "total": 3}
        assert meta["folding"]["exact"] and meta["folding"]["max_rel_diff"] < 1e-4
        history = _json(pruned / "history.json")
        stages = [r["phase"] for r in history if r["epoch"] == "post_prune"]
        assert stages == ["before_pruning", "pruned", "finetuned"]
        decisions = pd.read_csv(pruned / "pruning_decisions.csv")
        assert set(decisions.decision) <= {"linear", "nonlinear", "dead"} and len(decisions) == 96
        assert not list(pruned.glob("activation_*"))  # pruned runs are not analysed again

    table = pd.read_csv(studied / "data" / "08_reporting" / "benchmark.csv")
    assert sorted(table.run) == sorted(p.name for p in runs.iterdir())
    unpruned = table[~table.run.str.contains("_pruned-")]
    assert len(unpruned) == 27 and (unpruned.flops_total == 2 * (64 * 32 + 2 * 32 * 32 + 320)).all()
    reporting = studied / "data" / "08_reporting"  # the default pipeline ends with the report
    report = (reporting / "report.md").read_text()
    assert "digits · mlp" in report
    figures = sorted(p.stem for p in (reporting / "figures").glob("*.png"))
    assert figures == sorted(FIGURES)
    summary = pd.read_parquet(reporting / "analysis_summary.parquet")
    assert sorted(summary.run) == sorted(p.name for p in runs.iterdir())

    with KedroSession.create(project_path=studied) as session:
        catalog = session.load_context().catalog
        model = catalog.load("models")[_run(runs, "layerwise-low_to_high_s0").name]()
        linear = [32 - m.n_nonlinear for m in (model.act0, model.act1, model.act2)]
        assert linear == [6, 16, 26]  # round(32 x {0.2, 0.5, 0.8})
        assert f"{_run(runs, 'fixed_0_s0').name}/history" in catalog.load("runs")
        name = _run(runs, "pruned-gated-base_s0").name
        folded = catalog.load("folded_models")[name]()
        pruned = catalog.load("models")[name]()
        x = torch.randn(3, 1, 8, 8)
        assert folded(x).shape == (3, 10)
        torch.testing.assert_close(folded(x), pruned(x), rtol=1e-4, atol=1e-4)


def test_a_second_run_skips_and_each_later_pipeline_runs_alone(studied, tmp_path, caplog):
    """`kedro run` again trains nothing and prunes nothing; activation_analysis and pruning
    each run alone on the runs `select` (and `pruning.sources`) pick (benchmark and
    reporting alone: tests/test_faults.py)."""
    project = shutil.copytree(studied, tmp_path / "p", symlinks=True)
    runs = project / "data" / "07_model_output" / "runs"
    before = {p.name for p in runs.iterdir()}
    fixed_50 = _run(runs, "fixed_50_s0")
    bootstrap_project(project)
    with caplog.at_level("INFO"), KedroSession.create(project, runtime_params=FAST) as session:
        session.run()
    assert SUMMARY.format(27, 0, 27, 0) in caplog.messages
    assert {p.name for p in runs.iterdir()} == before
    assert [m for m in caplog.messages if "pruned-" in m and ": skipped" in m] != []

    pruning = {"finetune_epochs": 1, "sources": ["fixed_50_s*"]}
    one = {**FAST, "select": fixed_50.name, "pruning": pruning}
    (fixed_50 / "activation_stats.json").unlink()
    for name in ("activation_analysis", "pruning"):
        with KedroSession.create(project, runtime_params=one) as session:
            session.run(pipeline_names=[name])
    assert (fixed_50 / "activation_stats.json").is_file()
    pruned = _run(runs, "pruned-fixed_50_s0")
    assert {p.name for p in runs.iterdir()} == before | {pruned.name}
    assert _json(pruned / "meta.json")["config"]["source_run"] == fixed_50.name


def test_benchmark_without_trained_runs_says_what_to_do(project):
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session, pytest.raises(Exception) as info:
        session.run(pipeline_names=["benchmark"])
    err = one_line(info.value)
    assert isinstance(err, DataUnavailableError)
    assert str(err) == (
        "no complete run in data/07_model_output/runs/ matches select='*': train runs first "
        "(kedro run), then run this pipeline"
    )
    assert _files(project) == []


def _kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    kedro = Path(sys.executable).with_name("kedro")
    return subprocess.run(
        [str(kedro), *args],
        check=False,
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_colon_form_and_bad_input(project):
    bad = _kedro(project, "run", "--pipeline=train_gated", "--params=dataset:cifar")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        "Error: dataset 'cifar' is unknown; valid: digits, digits32, mnist, cifar10, imagenet, "
        "breast_cancer, adult, sentiment_synthetic, sst2"
    )
    assert _files(project) == []  # nothing written

    ok = _kedro(project, "run", "--pipeline=data_prep", "--params=dataset:digits,data.split_seed:3")
    assert ok.returncode == 0, ok.stderr
    assert _files(project) == [  # safetensors + JSON: loading it runs no code
        "data/03_primary/digits/splits.json",  # the split, persisted for the next node
        "data/03_primary/digits/tensors.safetensors",
        "data/05_model_input/digits/splits.json",
        "data/05_model_input/digits/tensors.safetensors",
    ]

    listed = _kedro(project, "registry", "list")
    assert {"- benchmark", "- data_prep", "- train_fixed", "- train_gated"} <= set(
        listed.stdout.split("\n")
    )


def test_colon_params_parsing():
    ctx = click.Context(click.Command("run"))
    param = click.Option(["--params"])
    assert colon_params(ctx, param, "dataset:mnist") == {"dataset": "mnist"}
    assert colon_params(ctx, param, "dataset=mnist,training.lr:0.1") == {
        "dataset": "mnist",
        "training": {"lr": 0.1},
    }
    assert colon_params(ctx, param, "model.name=a:b") == {"model": {"name": "a:b"}}
    assert colon_params(ctx, param, "") == {}


def test_notebook_runs_on_the_catalog(studied, tmp_path):
    """The analysis notebook, executed headless on the runs of a tiny session."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    project = shutil.copytree(studied, tmp_path / "p", symlinks=True)
    shutil.copytree(REPO / "notebooks", project / "notebooks")
    nb = nbformat.read(project / "notebooks" / "nonlinearity_analysis.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": project / "notebooks"}},
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert f"{len(DEFAULT_RUNS) + len(PRUNED)} runs, 1 settings" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the three figures


def test_kedro_viz_serves_every_pipeline(project, tmp_path):
    """`kedro viz run` answers its API with all seven pipelines; Chromium renders the page."""
    import time
    import urllib.request

    port = free_port()
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    log = tmp_path / "viz.log"
    out = log.open("wb")
    viz = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("kedro")),
            "viz",
            "run",
            "--no-browser",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=project,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its server runs in a child process: stop the whole group
    )
    try:
        api = None
        for _ in range(360):  # it imports the project first: ~15 s here, more on a busy machine
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/main", timeout=2) as r:
                    api = json.load(r)
                break
            except OSError:
                if viz.poll() is not None:
                    break  # it exited: the log says why
                time.sleep(0.5)
        assert api is not None, "kedro viz did not answer:\n" + log.read_text()[-3000:]
        pipelines = {p["id"] for p in api["pipelines"]}
        assert pipelines >= {
            "data_prep",
            "train_fixed",
            "train_gated",
            "activation_analysis",
            "pruning",
            "benchmark",
            "reporting",
        }
        layers = api["layers"]
        assert set(layers) == {
            "raw",
            "primary",
            "model_input",
            "models",
            "model_output",
            "reporting",
        }
        assert layers[0] == "raw" and layers[-1] == "reporting"
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser is None:
            pytest.skip("no Chromium here (apt-get install chromium): the page was not rendered")
        shot = tmp_path / "viz.png"
        for budget_ms in (15_000, 45_000):  # a busy machine may need longer to draw the graph
            subprocess.run(
                [
                    browser,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--window-size=1400,900",
                    f"--virtual-time-budget={budget_ms}",
                    f"--screenshot={shot}",
                    f"http://127.0.0.1:{port}/",
                ],
                check=True,
                capture_output=True,
                timeout=180,
            )
            if shot.stat().st_size > 50_000:
                break
        # the rendered graph, not a blank page (~25 KB)
        assert shot.stat().st_size > 50_000, f"screenshot only {shot.stat().st_size} bytes"
    finally:
        os.killpg(viz.pid, signal.SIGTERM)
        try:
            viz.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(viz.pid, signal.SIGKILL)
            viz.wait(timeout=30)
        out.close()
