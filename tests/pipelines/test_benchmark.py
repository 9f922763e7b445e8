"""benchmark on a tiny store: runs, a pruned run's folded model and their all-ReLU baselines
timed in the same interleaved rounds; the raw rounds in meta.json, the ratios in one table."""

import shutil
import statistics
from datetime import datetime

import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from nonlinearity.analysis import AnalysisConfig, analyse
from nonlinearity.data import load_raw, make_splits
from nonlinearity.errors import ConfigError
from nonlinearity.layers.apply import Approach, apply_approach, masked_layers
from nonlinearity.measure.benchmark import BenchmarkConfig, time_in_rounds
from nonlinearity.models.mlp import MLPConfig, build_mlp
from nonlinearity.pipelines.benchmark import create_pipeline
from nonlinearity.pipelines.benchmark.nodes import COMPARISON_COLUMNS, benchmark_runs
from nonlinearity.pruning import PruneConfig, prune_run
from nonlinearity.reporting import stats
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import load_model, train_run
from tests.conftest import TINY_MEASURE, TINY_MODEL

ROUNDS = 3
BENCH = {
    "batch_sizes": [1, 8],
    "compare_rounds": ROUNDS,
    "min_run_time_s": 0.003,
    "train_batch_size": 8,
    "train_steps": 1,
    "device": "cpu",
}
# key -> seed; fixed_50_s2 has no all-ReLU run of its seed
RUNS = {"fixed_0_s0": 0, "fixed_0_s1": 1, "fixed_50_s0": 0, "fixed_50_s1": 1, "fixed_50_s2": 2}


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[RunStore, dict[str, str]]:
    """Five trained runs and the pruned run of fixed_0_s0 (half its neurons linear, folded)."""
    splits = make_splits(load_raw("digits", "unused"), val_fraction=0.1, test_fraction=0.2, seed=0)
    store = RunStore(tmp_path_factory.mktemp("store"))
    training = {"epochs": 1, "batch_size": 64, "lr": 5e-3, "device": "cpu"}
    names = {}
    for key, seed in RUNS.items():
        ratio = float(key.split("_")[1]) / 100
        spec = RunSpec("fixed", ratio=ratio, seed=seed)
        record = train_run(splits, TINY_MODEL, training, spec, None, TINY_MEASURE)
        store.save(record)
        names[key] = record.name
    source = names["fixed_0_s0"]
    cfg = AnalysisConfig.from_params({"device": "cpu", "samples": 64})
    neurons, _, _ = analyse(load_model(store, source), splits, cfg, source)
    pruning = PruneConfig.from_params({"budget": 0.5, "finetune_epochs": 0})
    record = prune_run(store, source, splits, neurons, cfg.thresholds, pruning, TINY_MEASURE)
    store.save(record)
    names["pruned-fixed_0_s0"] = record.name
    assert store.meta(record.name)["folding"]["supported"]
    return store, names


@pytest.fixture
def store(stored, tmp_path) -> tuple[RunStore, dict[str, str]]:
    """A copy of the stored runs, for a test to benchmark (and change) on its own."""
    original, names = stored
    shutil.copytree(original.root, tmp_path / "store")
    return RunStore(tmp_path / "store"), names


def _interleaved(store: RunStore, name: str) -> dict:
    return store.meta(name)["benchmark"]["interleaved"]


def test_every_run_against_its_same_seed_all_relu_run_in_the_same_rounds(store):
    store, names = store
    updates, comparison, table = benchmark_runs(store, BENCH, "*")
    store.update_meta(updates)
    expected = {
        "fixed_0_s0": "fixed_0_s0",
        "fixed_0_s1": "fixed_0_s1",
        "fixed_50_s0": "fixed_0_s0",
        "fixed_50_s1": "fixed_0_s1",
        "fixed_50_s2": None,
        "pruned-fixed_0_s0": "fixed_0_s0",
    }
    assert set(updates) == set(names.values())
    for key, base in expected.items():
        rec = _interleaved(store, names[key])
        assert set(rec) == {"1", "8"}
        for bs, r in rec.items():
            assert r["baseline"] == (names[base] if base else None)
            assert len(r["rounds_s"]) == ROUNDS and all(t > 0 for t in r["rounds_s"])
            assert r["device"] == "cpu" and r["threads"] == 1  # the default: one CPU thread
            assert r["layout"] == "nonlinear_first"
            if base is None:
                assert r["baseline_rounds_s"] is None and r["baseline_fingerprint"] is None
                continue
            # the baseline's own rounds, from the same rounds: paired by round
            assert r["baseline_rounds_s"] == _interleaved(store, names[base])[bs]["rounds_s"]
            assert r["baseline_fingerprint"] == store.meta(names[base])["fingerprint"]
            assert ("folded_rounds_s" in r) == key.startswith("pruned-")


def test_latency_comparison_rows_ratios_and_verdicts(store):
    store, names = store
    updates, comparison, table = benchmark_runs(store, BENCH, "*")
    assert list(comparison.columns) == COMPARISON_COLUMNS
    keys = {(r.run, r.batch_size, r.folded) for r in comparison.itertuples()}
    unfolded = {(n, bs, False) for n in names.values() for bs in (1, 8)}
    assert keys == unfolded | {(names["pruned-fixed_0_s0"], bs, True) for bs in (1, 8)}
    assert len(comparison) == len(keys) == 14
    for r in comparison.itertuples():
        rec = updates[r.run]["benchmark"]["interleaved"][str(r.batch_size)]
        t = rec["folded_rounds_s" if r.folded else "rounds_s"]
        assert r.p50_s == statistics.median(t) and r.rounds == ROUNDS
        if rec["baseline"] is None:
            assert r.verdict == "no baseline" and pd.isna(r.ratio) and pd.isna(r.baseline)
            continue
        interval = stats.ratio_interval(t, rec["baseline_rounds_s"], level=0.95)
        assert (r.ratio, r.ratio_low, r.ratio_high) == (interval.ratio, interval.low, interval.high)
        assert r.verdict == stats.speed_verdict(interval)
        assert r.baseline_p50_s == statistics.median(rec["baseline_rounds_s"])
    own = comparison[(comparison.run == names["fixed_0_s1"]) & ~comparison.folded]
    assert (own.ratio == 1.0).all() and (own.ratio_low == 1.0).all()  # itself, round by round
    assert set(own.verdict) == {"no measurable difference"}
    row = table.set_index("run").loc[names["pruned-fixed_0_s0"]]
    assert (
        row.latency_ratio_b8
        == comparison.set_index(["run", "batch_size", "folded"]).loc[
            (names["pruned-fixed_0_s0"], 8, False), "ratio"
        ]
    )
    assert "folded_latency_ratio_b1" in table and pd.isna(
        table.set_index("run").loc[names["fixed_50_s0"], "folded_latency_ratio_b1"]
    )


def test_top_level_latency_is_the_interleaved_one_at_the_largest_batch(store):
    store, names = store
    updates, _, _ = benchmark_runs(store, BENCH, "*")
    update = updates[names["fixed_50_s0"]]
    lat, bench = update["latency"], update["benchmark"]
    rounds = bench["interleaved"]["8"]["rounds_s"]
    assert lat["method"] == "interleaved" and lat["batch_size"] == 8 and lat["rounds"] == ROUNDS
    assert lat["p50_latency_s"] == statistics.median(rounds) and lat["blocks"] == ROUNDS
    assert lat["samples_per_second"] == 8 / lat["p50_latency_s"]
    assert set(lat["by_batch_size"]) == {"1", "8"}
    assert lat["by_batch_size"]["1"]["p50_latency_s"] == statistics.median(
        bench["interleaved"]["1"]["rounds_s"]
    )
    assert datetime.fromisoformat(bench["measured_at"]).tzinfo is not None
    assert update["nonlinear_units"] == bench["nonlinear_units"] == 48
    assert update["approx_linear_flops"] == bench["flops_linear"] > 0
    assert bench["train_steps"] == 1 and bench["energy"]["8"]["energy_j_per_call"] is None
    assert bench["config"] == {**BENCH, "threads": 1}  # what it was measured with


def test_unselected_baseline_is_timed_but_not_written_and_stale_fingerprints_stay(store):
    """A baseline retrained after a run was measured leaves the run's recorded fingerprint
    stale (the report then leaves the ratio out); benchmarking the baseline alone does not
    rewrite the runs measured against it."""
    store, names = store
    run, base = names["fixed_50_s0"], names["fixed_0_s0"]
    updates, comparison, _ = benchmark_runs(store, BENCH, "*_fixed_50_s0_*")
    assert set(updates) == {run} and set(comparison.run) == {run}  # the baseline: timed only
    rec = updates[run]["benchmark"]["interleaved"]["1"]
    assert rec["baseline"] == base and len(rec["baseline_rounds_s"]) == ROUNDS
    store.update_meta(updates)
    old = store.meta(base)["fingerprint"]
    store.update_meta({base: {"fingerprint": "retrained"}})
    updates, _, _ = benchmark_runs(store, BENCH, "*_fixed_0_s0_*")
    store.update_meta(updates)
    assert set(updates) == {base}
    assert _interleaved(store, base)["1"]["baseline_fingerprint"] == "retrained"
    assert _interleaved(store, run)["1"]["baseline_fingerprint"] == old != "retrained"


def test_pipeline_runs_after_its_upstream_outputs(store):
    store, names = store
    pipe = create_pipeline(after=["trained", "pruned_runs"])
    (node,) = pipe.nodes
    assert node.inputs == [
        "run_store",
        "params:benchmark",
        "params:select",
        "trained",
        "pruned_runs",
    ]
    assert create_pipeline().nodes[0].inputs == ["run_store", "params:benchmark", "params:select"]
    catalog = DataCatalog(
        {
            "run_store": MemoryDataset(store, copy_mode="assign"),
            "params:benchmark": MemoryDataset(BENCH),
            "params:select": MemoryDataset("*_fixed_50_s1_*"),
            "trained": MemoryDataset(["a"]),
            "pruned_runs": MemoryDataset(["b"]),
            "benchmark_meta": MemoryDataset(),
            "latency_comparison": MemoryDataset(),
            "benchmark_table": MemoryDataset(),
        }
    )
    SequentialRunner().run(pipe, catalog)
    comparison = catalog.load("latency_comparison")
    assert list(comparison.run) == [names["fixed_50_s1"]] * 2
    assert set(catalog.load("benchmark_meta")) == {names["fixed_50_s1"]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"compare_rounds": 1}, "benchmark.compare_rounds = 1 is invalid: must be an integer >= 2"),
        ({"threads": 0}, "benchmark.threads = 0 is invalid: must be a positive integer, or null"),
        ({"min_run_time_s": 0}, "benchmark.min_run_time_s = 0 is invalid"),
    ],
)
def test_bad_benchmark_settings_stop_with_one_line(params, message):
    with pytest.raises(ConfigError, match=message):
        BenchmarkConfig.from_params(params)


def test_models_are_timed_in_the_nonlinear_first_layout_on_a_copy():
    """A GELU model is timed with its nonlinear units first (the slice path), the model
    handed in keeps its own order."""
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(64, 10, [16, 12], "gelu"))
    apply_approach(model, Approach("fixed", ratio=0.5), torch.randn(2, 64))
    masks = [m.nonlinear_mask.clone() for m in masked_layers(model)]
    seen = []
    for m in masked_layers(model):  # hooks travel with the copy; they see the timed layer
        m.register_forward_hook(lambda mod, args, out: seen.append(mod._prefix))
    rounds = time_in_rounds({"m": model}, (64,), BenchmarkConfig.from_params(BENCH))
    assert set(rounds) == {1, 8} and seen and all(seen)
    assert all(
        torch.equal(m.nonlinear_mask, k) for m, k in zip(masked_layers(model), masks, strict=True)
    )
    assert not any(m._prefix for m in masked_layers(model))
