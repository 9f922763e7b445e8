"""`kedro plan`: each run of a sweep with its status and cost, read from a stored sweep.

One scratch project (tests/test_run.py's way) with tiny settings in conf/local, and a
sweep stored by the functions the training nodes call: four runs trained (two fixed, a
gated run and its matched run), a fifth interrupted after its first epoch (the
checkpoint it leaves), a failed record; the trained runs' timing.json is rewritten to
known epoch times (0.25 s and 0.75 s), so every estimate is known exactly. The command
runs in-process (Kedro's CLI for the exit code), in well under a minute.
"""

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from kedro.framework.cli.cli import KedroCLI
from kedro.framework.startup import bootstrap_project

from nonlinearity.cli import cli, conf_parameters
from nonlinearity.data import load_raw
from nonlinearity.data.prepare import prepare_model_input
from nonlinearity.io import SplitsDataset
from nonlinearity.pipelines.data_prep.nodes import split_data
from nonlinearity.run.matched import train_matched
from nonlinearity.run.plan import NO_INPUT, Cost, Timed, costs
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import train_run
from tests.conftest import DEFAULT_RUNS, scratch_project

LOCAL = """\
model: {hidden_sizes: [16, 16, 16]}
training: {epochs: 2, device: cpu, threads: 1}
measure: {latency_batch_size: 8, min_run_time_s: 0.01}
train_gated: {variants: {base: {finetune_epochs: 1}}}
"""
# the stored runs' s/epoch, as their timing.json will say: median 0.5
EPOCH_TIMES = {
    "fixed_0_s0": 0.25,
    "fixed_50_s0": 0.75,
    "gated-base_s1": 0.25,
    "matched-base_s1": 0.75,
}


def _stored_sweep(project: Path) -> None:
    """data_prep, two runs trained and stored, and a third interrupted after its first
    epoch (the checkpoint it leaves), by the functions the pipelines' nodes call."""
    params = conf_parameters(None, None)
    raw = load_raw("digits", str(project / "data/01_raw"))
    splits = split_data(raw, params["data"])
    splits = prepare_model_input(splits, params["model"], params["data"], params["training"])
    SplitsDataset(str(project / "data/05_model_input/digits")).save(splits)
    store = RunStore(project / "data/07_model_output")
    shared = (params["model"], params["training"])
    for ratio in (0.0, 0.5):
        spec = RunSpec("fixed", ratio=ratio)
        store.save(train_run(splits, *shared, spec, None, params["measure"], params["data"], store))
    gates = params["train_gated"]["variants"]["base"]
    gated = RunSpec("gating", seed=1, variant="base")
    store.save(train_run(splits, *shared, gated, gates, params["measure"], params["data"], store))
    matched = RunSpec("matched", seed=1, variant="base")
    store.save(
        train_matched(splits, *shared, matched, gates, params["measure"], params["data"], store)
    )
    kept = {}
    scratch = RunStore(project.parent / "scratch_store")  # the interrupted run goes nowhere
    scratch.save_checkpoint = kept.setdefault  # (name, state): the first, after epoch 1
    spec = RunSpec("fixed", ratio=0.25)
    record = train_run(splits, *shared, spec, None, params["measure"], params["data"], scratch)
    store.save_checkpoint(record.name, kept[record.name])
    diverging = {**params["training"], "lr": 1e30}  # a failed record (of other settings)
    spec = RunSpec("fixed", ratio=1.0)
    failed = train_run(splits, params["model"], diverging, spec, None, None, params["data"])
    assert failed.status == "failed"
    store.save(failed)


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    project = scratch_project(tmp_path_factory.mktemp("planned") / "project")
    (project / "conf" / "local" / "parameters.yml").write_text(LOCAL)
    cwd = Path.cwd()
    os.chdir(project)
    try:
        bootstrap_project(project)
        _stored_sweep(project)
    finally:
        os.chdir(cwd)
    runs = project / "data/07_model_output/runs"
    for key, seconds in EPOCH_TIMES.items():
        (timing,) = runs.glob(f"digits_mlp_{key}_c*/timing.json")
        epochs = [{"epoch": e, "phase": "train", "epoch_time_s": seconds} for e in (1, 2)]
        timing.write_text(json.dumps({"epochs": epochs, "train_time_s": 9.0}))
    return project


def _tree(project: Path) -> dict[str, tuple[int, int]]:
    files = (p for p in project.rglob("*") if p.is_file())  # data/, conf/, everything
    return {str(p.relative_to(project)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def _plan(project: Path, monkeypatch, *args: str):
    monkeypatch.chdir(project)
    bootstrap_project(project)
    return CliRunner().invoke(cli, ["plan", *args], catch_exceptions=False)


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_plan_of_a_stored_sweep(swept, monkeypatch):
    """Done runs cost nothing; the interrupted run resumes at epoch 2; every other run
    costs its epochs x the median s/epoch of the timed runs; nothing is written."""
    before = _tree(swept)
    plan = _json(_plan(swept, monkeypatch, "--format", "json", "--workers", "2"))
    assert _tree(swept) == before

    rows = {r["key"]: r for r in plan["runs"]}
    assert list(rows) == DEFAULT_RUNS  # every run of __default__, in sweep order
    runs = swept / "data/07_model_output/runs"
    for key in EPOCH_TIMES:  # named and fingerprinted as the run named itself (the matched
        row = rows[key]  # run after its stored gated run's hardened shares)
        assert (row["status"], row["epochs"], row["seconds"]) == ("done", 0, 0.0)
        (stored,) = runs.glob(f"digits_mlp_{key}_c*")
        meta = json.loads((stored / "meta.json").read_text())
        assert (row["name"], row["fingerprint"]) == (stored.name, meta["fingerprint"])
    partial = rows["fixed_25_s0"]
    assert (partial["status"], partial["resume_epoch"], partial["epochs"]) == ("partial", 2, 1)
    assert partial["seconds"] == 0.5 and partial["note"] == "resumes at epoch 2 of 2"
    assert rows["fixed_75_s1"]["status"] == "to train" and rows["fixed_75_s1"]["seconds"] == 1.0
    gated = rows["gated-base_s0"]  # soft + fine-tune epochs, training.epochs in all
    assert gated["phases"] == [1, 1] and gated["seconds"] == 1.0
    matched = rows["matched-base_s0"]  # its gated run is not stored: no name yet
    assert matched["name"] is None and matched["note"] == "named when gated-base_s0 is stored"
    assert matched["seconds"] == 1.0

    (cost,) = plan["costs"]
    assert (cost["dataset"], cost["model"], cost["device_type"]) == ("digits", "mlp", "cpu")
    assert cost["seconds_per_epoch"] == {"median": 0.5, "min": 0.25, "max": 0.75}
    assert len(cost["timed_runs"]) == 4  # complete records only
    summary = plan["summary"]
    counts = (summary["runs"], summary["done"], summary["to_train"], summary["partial"])
    assert counts == (27, 4, 23, 1) and summary["failed"] == summary["cost_unknown"] == 0
    assert summary["seconds"] == 0.5 + 22 * 1.0 and summary["seconds_per_worker"] == 11.25

    text = _plan(
        swept, monkeypatch, "--pipeline=train_fixed", "--namespaces=fixed_0_s0,fixed_25_s0"
    )
    assert text.exit_code == 0, text.output
    assert _tree(swept) == before
    lines = text.stdout.splitlines()
    assert lines[1].startswith("model input: ") and lines[1] != NO_INPUT
    assert lines[2] == (
        "cost of digits · mlp on cpu: 0.5 s/epoch, the median of 4 timed runs "
        "(0.25–0.75 s/epoch, 1 thread)"
    )
    row = next(line for line in lines if line.startswith("fixed_25_s0 "))
    assert row.split()[2:] == ["partial", "1", "0.5", "resumes", "at", "epoch", "2", "of", "2"]
    assert lines[-1] == (
        "2 runs: 1 done, 1 to train (1 partial); estimated total 0.50 s sequential "
        "(on cpu, the device those runs were timed on)"
    )


def test_no_timed_run_costs_unknown(swept, monkeypatch):
    """Another data set: no model input, no timed run: names from settings, no guess."""
    before = _tree(swept)
    result = _plan(swept, monkeypatch, "--pipeline=train_gated", "--params=dataset=breast_cancer")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1:3] == [NO_INPUT, "no timed run of breast_cancer · tabular_mlp: cost unknown"]
    assert lines[-1] == (
        "6 runs: 0 done, 6 to train (0 partial); cost unknown (no timed run of their setting)"
    )
    row = next(line for line in lines if line.startswith("gated-base_s0 "))
    assert row.split()[1:5] == [
        "breast_cancer_tabular_mlp_gated-base_s0_c" + row.split()[1][-6:],
        "to",
        "train",
        "1+1",
    ]
    assert row.split()[-1] == "?"
    assert _tree(swept) == before


def test_failed_and_not_trained_runs(swept, monkeypatch):
    """A failed record of the same settings trains again; a layer-wise schedule that is
    one ratio on every layer (a 1-layer model) is not trained."""
    args = ("--pipeline=train_fixed", "--format=json")
    failed = _json(_plan(swept, monkeypatch, *args, "--namespaces=fixed_100_s0",
                         "--params=training.lr=1e30"))  # fmt: skip
    (row,) = failed["runs"]
    assert (row["status"], row["epochs"], row["seconds"]) == ("failed", 2, 1.0)
    assert row["note"].startswith("trains again (non-finite training loss")
    one_layer = _json(_plan(swept, monkeypatch, *args, "--namespaces=layerwise-low_to_high_s1",
                            "--params=model.hidden_sizes=[16]"))  # fmt: skip
    (row,) = one_layer["runs"]
    assert (row["status"], row["epochs"], row["seconds"]) == ("not trained", 0, 0.0)
    assert (
        one_layer["summary"]["line"]
        == "1 run: 0 done, 0 to train (0 partial), 1 not trained: nothing to train"
    )


def test_bad_input_is_one_line(swept, monkeypatch):
    before = _tree(swept)
    bad = _plan(swept, monkeypatch, "--params=trainng.epochs=1")
    assert bad.exit_code == 2 and bad.stdout == ""
    assert (
        bad.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: trainng is not a setting; did you mean 'training'?")
    )
    # `kedro plan` as Kedro's CLI finds it in the project
    out = CliRunner().invoke(KedroCLI(swept), ["plan", "--pipeline=nosuch"])
    assert out.exit_code == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines()[-1] == (
        "Error: pipeline 'nosuch' is not in the registry; valid: __default__, "
        "activation_analysis, benchmark, data_prep, pruning, reporting, robustness, sweep, "
        "train_fixed, train_gated"
    )
    assert _tree(swept) == before


def test_cost_is_the_median_and_range_of_its_group():
    group, other = ("digits", "mlp", "cpu"), ("digits", "mlp", "cuda")
    timed = [Timed(f"r{i}", group, s, {}) for i, s in enumerate((0.3, 0.1, 0.2, 0.9))]
    found = costs([*timed, Timed("g", other, 0.01, {})], [group, group, ("adult", "mlp", "cpu")])
    assert list(found) == [group, ("adult", "mlp", "cpu")]
    assert found[("adult", "mlp", "cpu")] is None
    cost = found[group]
    assert isinstance(cost, Cost) and len(cost.runs) == 4
    assert (cost.median, cost.low, cost.high) == (0.25, 0.1, 0.9)
