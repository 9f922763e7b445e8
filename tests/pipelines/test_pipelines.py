"""Pipelines on an in-memory catalog with SequentialRunner, on tiny settings."""

import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from nonlinearity.data import load_raw
from nonlinearity.experiment import RunSpec
from nonlinearity.pipelines import data_prep
from nonlinearity.pipelines.runs import run_pipeline, sweep_pipeline
from tests.conftest import TINY_MEASURE, TINY_MODEL, TINY_TRAINING


def _catalog(splits=None, **params):
    datasets = {f"params:{k}": MemoryDataset(v) for k, v in params.items()}
    if splits is not None:
        datasets["model_input"] = MemoryDataset(splits, copy_mode="assign")
    return DataCatalog(datasets)


def test_data_prep_pipeline():
    catalog = _catalog(
        data={"val_fraction": 0.1, "test_fraction": 0.2, "split_seed": 0},
        model=TINY_MODEL,
        training=TINY_TRAINING,
    )
    catalog["raw_data"] = MemoryDataset(load_raw("digits", "unused"), copy_mode="assign")
    out = SequentialRunner().run(data_prep.create_pipeline(), catalog)
    splits = out["model_input"].load()
    assert splits.sizes() == {"train": 1293, "val": 144, "test": 360}
    assert splits.kind == "image" and splits.input_shape == (1, 8, 8)


def test_fixed_and_layerwise_runs(digits_splits):
    specs = [RunSpec("fixed", ratio=0.5), RunSpec("layerwise", schedule_name="steps")]
    pipe = sweep_pipeline(specs)
    assert {n.name for n in pipe.nodes} == {"fixed_50_s0.train", "layerwise-steps_s0.train"}
    catalog = _catalog(
        digits_splits,
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
    files = out["layerwise-steps_s0.artifacts"].load()
    meta = files["digits_mlp_layerwise-steps_s0/meta"]
    assert meta["config"]["approach"] == "layerwise"
    assert meta["config"]["schedule"] == {"0": 0.25, "2": 1.0}
    history = files["digits_mlp_layerwise-steps_s0/history"]
    assert [1 - s["alpha_mean"] for s in history[-1]["gating"]] == [0.25, 0.0, 1.0]
    model = out["fixed_50_s0.model"].load()["digits_mlp_fixed_50_s0"]()
    logits = model(torch.zeros(3, 1, 8, 8))
    assert logits.shape == (3, 10)


def test_gated_run_reads_its_variant(digits_splits):
    pipe = run_pipeline(RunSpec("gating", variant="half"))
    variant = {"l1": 0.5, "harden_budget": 0.5, "finetune_epochs": 0}
    catalog = _catalog(
        digits_splits,
        model=TINY_MODEL,
        training=TINY_TRAINING,
        measure=TINY_MEASURE,
        **{"train_gated.variants.half": variant},
    )
    out = SequentialRunner().run(pipe, catalog)
    files = out["gated-half_s0.artifacts"].load()
    history = files["digits_mlp_gated-half_s0/history"]
    assert history[-1]["epoch"] == "hardened" and history[-1]["linear_ratio"] == 0.5
    assert files["digits_mlp_gated-half_s0/meta"]["config"]["gating"]["l1"] == 0.5
