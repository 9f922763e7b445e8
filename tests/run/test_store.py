"""The run store: atomic records, supersession, strict JSON, reproducible bytes, resume."""

import copy
import json
import logging

import pytest
import torch

from nonlinearity.run.record import RunRecord, split_timing, strict
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import train_run
from tests.conftest import TINY_MEASURE, TINY_MODEL, TINY_TRAINING


def _record(name="digits_mlp_fixed_0_s0_c000000", fp="a" * 64, value=1.0):
    meta = {"run_name": name, "status": "complete", "fingerprint": fp, "config": {}}
    history = [{"epoch": 1, "val_acc": value}]
    return RunRecord(name, history, meta, weights={"w": torch.full((2,), value)})


def _no_nan(text):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_record_appears_whole(tmp_path):
    store = RunStore(tmp_path)
    store.save(_record())
    folder = tmp_path / "runs" / "digits_mlp_fixed_0_s0_c000000"
    assert sorted(p.name for p in folder.iterdir()) == [
        "history.json",
        "meta.json",
        "model.safetensors",
        "timing.json",
    ]
    assert store.complete(folder.name, "a" * 64) and not store.complete(folder.name, "b" * 64)
    assert not (tmp_path / "partial" / folder.name).exists()  # staging cleaned up
    state, _ = store.weights(folder.name)
    assert state["w"].tolist() == [1.0, 1.0]


def test_other_settings_never_overwrite_in_silence(tmp_path, caplog):
    store = RunStore(tmp_path)
    store.save(_record(fp="a" * 64, value=1.0))
    with caplog.at_level(logging.WARNING):
        store.save(_record(fp="b" * 64, value=2.0))
    name = "digits_mlp_fixed_0_s0_c000000"
    kept = tmp_path / "superseded" / f"{name}@{'a' * 12}"
    assert json.loads((kept / "meta.json").read_text())["fingerprint"] == "a" * 64
    assert store.meta(name)["fingerprint"] == "b" * 64
    assert f"kept it in {kept}" in caplog.text
    store.save(_record(fp="b" * 64, value=3.0))  # a forced re-run of the same settings replaces
    assert store.history(name) == [{"epoch": 1, "val_acc": 3.0}]
    assert sorted(p.name for p in (tmp_path / "superseded").iterdir()) == [kept.name]


def test_files_are_strict_json(tmp_path):
    store = RunStore(tmp_path)
    record = _record()
    record.history = [{"epoch": 1, "train_loss": float("nan"), "val_loss": float("inf")}]
    store.save(record)
    history = _no_nan((tmp_path / "runs" / record.name / "history.json").read_text())
    assert history == [{"epoch": 1, "train_loss": None, "val_loss": None}]
    assert strict({"a": [1.0, float("-inf")]}) == {"a": [1.0, None]}


def test_timings_live_apart():
    history, timing = split_timing([{"epoch": 1, "phase": "train", "epoch_time_s": 0.5}])
    assert history == [{"epoch": 1, "phase": "train"}]
    assert timing == [{"epoch": 1, "phase": "train", "epoch_time_s": 0.5}]


def test_update_meta_reads_every_run_before_writing(tmp_path):
    store = RunStore(tmp_path)
    store.save(_record())
    name = "digits_mlp_fixed_0_s0_c000000"
    before = (tmp_path / "runs" / name / "meta.json").read_bytes()
    with pytest.raises(FileNotFoundError, match="nosuch"):
        store.update_meta({name: {"latency": 1}, "nosuch": {"latency": 2}})
    assert (tmp_path / "runs" / name / "meta.json").read_bytes() == before  # nothing written
    store.update_meta({name: {"latency": 1}})
    assert store.meta(name)["latency"] == 1 and store.meta(name)["fingerprint"] == "a" * 64


def test_same_settings_same_bytes(digits_splits, tmp_path):
    """Two CPU runs of the same settings: identical history.json and model.safetensors."""
    spec = RunSpec("gating", seed=0, variant="b")
    gates = {"l1": 0.5, "harden_budget": 0.5, "finetune_epochs": 1}
    folders = []
    for i in range(2):
        record = train_run(digits_splits, TINY_MODEL, TINY_TRAINING, spec, gates, TINY_MEASURE)
        store = RunStore(tmp_path / str(i))
        store.save(record)
        folders.append(tmp_path / str(i) / "runs" / record.name)
    assert folders[0].name == folders[1].name
    for file in ("history.json", "model.safetensors"):
        assert (folders[0] / file).read_bytes() == (folders[1] / file).read_bytes()


@pytest.mark.parametrize(
    ("spec", "gates", "at"),
    [
        (RunSpec("fixed", ratio=0.5), None, ("train", 2)),
        (RunSpec("gating", variant="b"), {"l1": 0.5, "finetune_epochs": 2}, ("train", 1)),
        (RunSpec("gating", variant="b"), {"l1": 0.5, "finetune_epochs": 2}, ("finetune", 0)),
        (RunSpec("gating", variant="b"), {"l1": 0.5, "finetune_epochs": 2}, ("finetune", 1)),
    ],
    ids=["fixed-epoch2", "gated-epoch1", "gated-hardened", "gated-finetune1"],
)
def test_skip_and_resume_in_process(digits_splits, tmp_path, spec, gates, at):
    """A stored complete run is skipped; a checkpoint left by an interrupted run resumes to
    the same history and weights as an uninterrupted run."""
    store = RunStore(tmp_path)
    train = {**TINY_TRAINING, "epochs": 3}
    whole = train_run(digits_splits, TINY_MODEL, train, spec, gates, TINY_MEASURE, store=store)
    store.save(whole)
    again = train_run(digits_splits, TINY_MODEL, train, spec, gates, TINY_MEASURE, store=store)
    assert again.skipped and again.name == whole.name
    # the checkpoint of a fresh run at `at` (phase, records of that phase), as a kill leaves it
    other = RunStore(tmp_path / "other")
    ckpt = None

    def keep(name, state):
        nonlocal ckpt
        done = len((state["loop"] or {}).get("history", []))
        if (state["phase"], done) == at:
            ckpt = copy.deepcopy(state)  # as torch.save would: the tensors change on

    other.save_checkpoint = keep
    train_run(digits_splits, TINY_MODEL, train, spec, gates, TINY_MEASURE, store=other)
    assert ckpt is not None
    resumed_store = RunStore(tmp_path / "resumed")
    resumed_store.save_checkpoint(whole.name, ckpt)
    resumed = train_run(
        digits_splits, TINY_MODEL, train, spec, gates, TINY_MEASURE, store=resumed_store
    )
    assert resumed.history == whole.history
    assert resumed.weights.keys() == whole.weights.keys()
    for key, value in whole.weights.items():
        assert torch.equal(resumed.weights[key], value), key


def test_a_failed_write_leaves_the_earlier_record(tmp_path):
    """Weights written, then meta.json fails to serialise: runs/ still holds the old record."""
    store = RunStore(tmp_path)
    store.save(_record(fp="a" * 64, value=1.0))
    name = "digits_mlp_fixed_0_s0_c000000"
    before = {p.name: p.read_bytes() for p in (tmp_path / "runs" / name).iterdir()}
    broken = _record(fp="b" * 64, value=2.0)
    broken.meta["config"] = {"not json": object()}
    with pytest.raises(TypeError):
        store.save(broken)
    assert {p.name: p.read_bytes() for p in (tmp_path / "runs" / name).iterdir()} == before
    assert not (tmp_path / "superseded").exists()
