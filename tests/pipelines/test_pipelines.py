"""Pipelines on an in-memory catalog with SequentialRunner, on tiny settings."""

import torch
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from nonlinearity.data import load_raw
from nonlinearity.io import RunRecordDataset
from nonlinearity.pipelines import data_prep
from nonlinearity.pipelines.per_run import run_pipeline, sweep_pipeline
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import load_model
from tests.conftest import REPO, TINY_MEASURE, TINY_MODEL, TINY_TRAINING

DATA = {"val_fraction": 0.1, "test_fraction": 0.2, "split_seed": 0}


def _catalog(splits=None, store=None, **params):
    params = {"data": DATA, "rerun": False, **params}
    datasets = {f"params:{k}": MemoryDataset(v) for k, v in params.items()}
    if splits is not None:
        datasets["model_input"] = MemoryDataset(splits, copy_mode="assign")
    if store is not None:
        datasets["run_store"] = MemoryDataset(store, copy_mode="assign")
    return DataCatalog(datasets)


def test_data_prep_pipeline():
    catalog = _catalog(
        model=TINY_MODEL,
        training=TINY_TRAINING,
    )
    catalog["raw_data"] = MemoryDataset(load_raw("digits", "unused"), copy_mode="assign")
    out = SequentialRunner().run(data_prep.create_pipeline(), catalog)
    splits = out["model_input"].load()
    assert splits.sizes() == {"train": 1293, "val": 144, "test": 360}
    assert splits.kind == "image" and splits.input_shape == (1, 8, 8)


def test_fixed_and_layerwise_runs(digits_splits, tmp_path):
    specs = [RunSpec("fixed", ratio=0.5), RunSpec("layerwise", schedule_name="steps")]
    pipe = sweep_pipeline(specs)
    assert {n.name for n in pipe.nodes} == {"fixed_50_s0.train", "layerwise-steps_s0.train"}
    store = RunStore(tmp_path)
    catalog = _catalog(
        digits_splits,
        store,
        model=TINY_MODEL,
        training=TINY_TRAINING,
        measure=TINY_MEASURE,
        **{
            "train_fixed.layerwise": {
                "default_ratio": 0.0,
                "pattern": "structured",
                "schedules": {"steps": {0: 0.25, "2": 1.0}},
            }
        },
    )
    out = SequentialRunner().run(pipe, catalog)
    record = out["layerwise-steps_s0.record"].load()
    assert record.name.startswith("digits_mlp_layerwise-steps_s0_c")
    assert record.meta["config"]["approach"] == "layerwise"
    assert record.meta["config"]["schedule"] == {"0": 0.25, "2": 1.0}
    assert [1 - s["alpha_mean"] for s in record.history[-1]["gating"]] == [0.25, 0.0, 1.0]
    fixed = out["fixed_50_s0.record"].load()
    store.save(fixed)
    model = load_model(store, fixed.name)
    logits = model(torch.zeros(3, 1, 8, 8))
    assert logits.shape == (3, 10)


def test_gated_run_reads_its_variant(digits_splits, tmp_path):
    pipe = run_pipeline(RunSpec("gating", variant="half"))
    variant = {"l1": 0.5, "harden_budget": 0.5, "finetune_epochs": 0}
    catalog = _catalog(
        digits_splits,
        RunStore(tmp_path),
        model=TINY_MODEL,
        training=TINY_TRAINING,
        measure=TINY_MEASURE,
        **{"train_gated.variants.half": variant},
    )
    out = SequentialRunner().run(pipe, catalog)
    record = out["gated-half_s0.record"].load()
    assert record.history[-1]["epoch"] == "hardened" and record.history[-1]["linear_ratio"] == 0.5
    assert record.meta["config"]["gating"]["l1"] == 0.5


def test_a_matched_run_trains_after_its_gated_run(digits_splits, tmp_path):
    """The matched node reads the gated run's record dataset, so it runs after it, and takes
    the shares of the gated run these settings name."""
    specs = [RunSpec("matched", variant="half"), RunSpec("gating", variant="half")]
    pipe = sweep_pipeline(specs)
    assert [n.name for n in pipe.nodes] == ["gated-half_s0.train", "matched-half_s0.train"]
    variant = {"l1": 0.5, "harden_budget": 0.25, "finetune_epochs": 1}
    store = RunStore(tmp_path)
    catalog = _catalog(
        digits_splits,
        store,
        model=TINY_MODEL,
        training=TINY_TRAINING,
        measure=TINY_MEASURE,
        **{"train_gated.variants.half": variant},
    )
    for key in ("gated-half_s0", "matched-half_s0"):
        catalog[f"{key}.record"] = RunRecordDataset(str(tmp_path), key=key)
    out = SequentialRunner().run(pipe, catalog)
    gated, matched = (out[f"{k}-half_s0.run_name"].load() for k in ("gated", "matched"))
    assert store.names() == sorted([gated, matched])
    meta = store.meta(matched)
    assert meta["config"]["source_run"] == gated and meta["config"]["layer_ratios"] == [0.75] * 3


def test_a_collapsed_layerwise_node_trains_nothing(digits_splits, tmp_path):
    store = RunStore(tmp_path)
    catalog = _catalog(
        digits_splits,
        store,
        model={**TINY_MODEL, "hidden_sizes": [32]},  # one activation layer
        training=TINY_TRAINING,
        measure=TINY_MEASURE,
        **{"train_fixed.layerwise": {"schedules": {"low_to_high": [0.2, 0.8]}}},
    )
    catalog["layerwise-low_to_high_s0.record"] = RunRecordDataset(str(tmp_path), "*")
    pipe = run_pipeline(RunSpec("layerwise", schedule_name="low_to_high"))
    out = SequentialRunner().run(pipe, catalog)
    assert out["layerwise-low_to_high_s0.run_name"].load() == ""
    assert not tmp_path.joinpath("runs").exists() and not tmp_path.joinpath("partial").exists()


def test_default_pipeline_is_the_whole_study_in_order():
    """data_prep -> training (matched after gated) -> activation_analysis -> pruning ->
    benchmark -> reporting, by dataset dependencies; each run analysed and pruned by
    nodes of its own, which wait for its training only."""
    bootstrap_project(REPO)
    from nonlinearity.pipeline_registry import register_pipelines

    pipelines = register_pipelines()
    default = pipelines["__default__"]

    def before(node: str) -> set[str]:
        return {n.name for n in default.to_nodes(node).nodes} - {node}

    trains = {n.name for n in default.nodes if n.name.endswith(".train")}
    assert len(trains) == 27
    assert {"split_data", "prepare_model_input", "gated-base_s1.train"} <= before(
        "matched-base_s1.train"
    )
    for train in trains:
        key = train.removesuffix(".train")
        assert before(f"analysis.{key}") == before(train) | {train}
        assert before(f"pruning.{key}") == before(train) | {train, f"analysis.{key}"}
    prunes = {n.name for n in default.nodes if n.namespace == "pruning"} - {"pruning.sweep"}
    assert len(prunes) == 27 and prunes <= before("pruning.sweep")
    assert "pruning.sweep" in before("benchmark_runs")
    # a run's namespace is its training: --namespaces=<key> trains it, nothing after
    assert {n.name for n in default.only_nodes_with_namespaces(["fixed_50_s0"]).nodes} == {
        "fixed_50_s0.train"
    }
    reporting = {n.name for n in pipelines["reporting"].nodes}
    assert all("benchmark_runs" in before(n) for n in reporting)
    for alone in ("activation_analysis", "pruning", "benchmark", "reporting"):
        assert not any(i.endswith(".run_name") for i in pipelines[alone].inputs())
