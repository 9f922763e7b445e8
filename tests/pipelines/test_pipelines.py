"""Pipelines on an in-memory catalog with SequentialRunner, on tiny settings."""

import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from nonlinearity.data import load_raw
from nonlinearity.pipelines import data_prep
from nonlinearity.pipelines.per_run import run_pipeline, sweep_pipeline
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import load_model
from tests.conftest import TINY_MEASURE, TINY_MODEL, TINY_TRAINING

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
