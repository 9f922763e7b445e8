"""The run store and the model input on a file system without atomic folder renames
(fsspec's `memory://`): published by a marker written last, ignored without it."""

import json
import logging
import uuid

import fsspec
import pytest
import torch
from kedro.io import DatasetError

from nonlinearity.data.prepare import prepare_model_input
from nonlinearity.io import ModelInputsDataset, RunRecordDataset, SplitsDataset
from nonlinearity.run.plan import PARTIAL, TO_TRAIN, Planned, run_status
from nonlinearity.run.record import RunRecord
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import train_run
from nonlinearity.storage import MARKER
from tests.conftest import TINY_MEASURE, TINY_MODEL, TINY_TRAINING

NAME = "digits_mlp_fixed_0_s0_c000000"
FILES = ["history.json", "meta.json", "model.safetensors", "timing.json"]


@pytest.fixture
def memory():
    """A fresh folder of the process's in-memory file system, as a URL."""
    fs = fsspec.filesystem("memory")
    root = f"memory://test-{uuid.uuid4().hex}"
    yield root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _fs():
    return fsspec.filesystem("memory")


def _ls(url):
    return sorted(p.rsplit("/", 1)[-1] for p in _fs().ls(url, detail=False))


def _record(fp="a" * 64, value=1.0):
    meta = {"run_name": NAME, "status": "complete", "fingerprint": fp, "config": {}}
    history = [{"epoch": 1, "val_acc": value}]
    return RunRecord(NAME, history, meta, weights={"w": torch.full((2,), value)})


def test_a_run_is_saved_listed_and_loaded(memory):
    store = RunStore(f"{memory}/store")
    store.save(_record())
    folder = f"{memory}/store/runs/{NAME}"
    assert _ls(folder) == sorted([*FILES, MARKER])
    assert json.loads(_fs().cat_file(f"{folder}/{MARKER}"))["files"] == FILES
    assert store.names() == [NAME] and RunRecordDataset(f"{memory}/store").load() == [NAME]
    assert store.complete(NAME, "a" * 64) and not store.complete(NAME, "b" * 64)
    assert store.history(NAME) == [{"epoch": 1, "val_acc": 1.0}]
    state, _ = store.weights(NAME)
    assert state["w"].tolist() == [1.0, 1.0]
    assert not _fs().exists(f"{memory}/store/partial/{NAME}")  # staging cleaned up
    store.update_meta({NAME: {"latency": 1}})
    assert store.meta(NAME)["latency"] == 1 and store.names() == [NAME]


def test_a_run_folder_without_its_marker_is_not_a_run(memory):
    """A writer killed before the marker leaves files that no reader counts; the next
    save replaces them and keeps nothing of them aside."""
    store = RunStore(memory)
    store.save(_record(fp="a" * 64))
    _fs().rm_file(f"{memory}/runs/{NAME}/{MARKER}")
    assert store.names() == [] and store.meta(NAME) is None
    assert not store.complete(NAME, "a" * 64)
    run = Planned("fixed_0_s0", NAME, "a" * 64, {}, {"total": 2})
    assert run_status(run, store)[0] == TO_TRAIN
    store.save(_record(fp="b" * 64, value=2.0))
    assert store.names() == [NAME] and store.meta(NAME)["fingerprint"] == "b" * 64
    assert store.history(NAME) == [{"epoch": 1, "val_acc": 2.0}]
    assert not _fs().exists(f"{memory}/superseded")


def test_other_settings_never_overwrite_in_silence(memory):
    store = RunStore(memory)
    store.save(_record(fp="a" * 64, value=1.0))
    store.save(_record(fp="b" * 64, value=2.0))
    kept = f"{memory}/superseded/{NAME}@{'a' * 12}"
    assert _ls(kept) == sorted([*FILES, MARKER])  # published there, whole
    assert json.loads(_fs().cat_file(f"{kept}/meta.json"))["fingerprint"] == "a" * 64
    assert store.meta(NAME)["fingerprint"] == "b" * 64
    store.save(_record(fp="b" * 64, value=3.0))  # a forced re-run of the same settings replaces
    assert store.history(NAME) == [{"epoch": 1, "val_acc": 3.0}]
    assert _ls(f"{memory}/superseded") == [kept.rsplit("/", 1)[-1]]
    assert _fs().find(f"{memory}/partial") == []  # nothing left in partial/


def test_a_failed_write_leaves_the_earlier_record(memory):
    store = RunStore(memory)
    store.save(_record(fp="a" * 64))
    before = _fs().cat(f"{memory}/runs/{NAME}/*")
    broken = _record(fp="b" * 64, value=2.0)
    broken.meta["config"] = {"not json": object()}
    with pytest.raises(TypeError):
        store.save(broken)
    assert _fs().cat(f"{memory}/runs/{NAME}/*") == before
    assert store.complete(NAME, "a" * 64)


class Killed(BaseException):
    """What a kill does to a run: it stops, whatever it was doing."""


class KilledAfter(RunStore):
    """A store whose run is killed once it has checkpointed `epochs` epochs."""

    def __init__(self, root, epochs):
        super().__init__(root)
        self.epochs = epochs

    def save_checkpoint(self, name, state):
        super().save_checkpoint(name, state)
        if len(state["loop"]["history"]) == self.epochs:
            raise Killed


def test_a_killed_run_resumes_from_its_checkpoint(digits_splits, memory, caplog):
    """Killed after epoch 1 of 2, a run on a `memory://` store resumes there (a new
    store on the same URL) and ends as the uninterrupted run does."""
    train = {**TINY_TRAINING, "epochs": 2, "batch_size": 256}
    spec = RunSpec("fixed", ratio=0.5)
    whole = train_run(digits_splits, TINY_MODEL, train, spec, None, TINY_MEASURE)
    with pytest.raises(Killed):
        train_run(
            digits_splits, TINY_MODEL, train, spec, None, TINY_MEASURE,
            store=KilledAfter(memory, epochs=1),
        )  # fmt: skip
    store = RunStore(memory)
    assert store.names() == [] and store.checkpoint(whole.name)["fingerprint"] == whole.fingerprint
    planned = Planned("fixed_50_s0", whole.name, whole.fingerprint, {}, {"total": 2})
    assert run_status(planned, store)[:2] == (PARTIAL, 1)
    with caplog.at_level(logging.INFO, logger="nonlinearity.run.train"):
        resumed = train_run(digits_splits, TINY_MODEL, train, spec, None, TINY_MEASURE, store=store)
    assert "resumed from its checkpoint after 1 records" in caplog.text
    assert resumed.history == whole.history
    for key, value in whole.weights.items():
        assert torch.equal(resumed.weights[key], value), key
    store.save(resumed)
    assert store.complete(whole.name, whole.fingerprint)
    assert store.checkpoint(whole.name) is None  # partial/ cleared
    again = train_run(digits_splits, TINY_MODEL, train, spec, None, TINY_MEASURE, store=store)
    assert again.skipped


def test_splits_round_trip(digits_splits, memory):
    prepared = prepare_model_input(digits_splits, {"name": "mlp"}, {"split_seed": 0}, {})
    ds = SplitsDataset(f"{memory}/digits")
    ds.save(prepared)
    assert _ls(f"{memory}/digits") == sorted([MARKER, "splits.json", "tensors.safetensors"])
    back = ds.load()
    for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(torch.as_tensor(getattr(prepared, k)), getattr(back, k)), k
    for k in ("name", "mean", "std", "num_classes", "kind", "topk", "augment", "info"):
        assert getattr(prepared, k) == getattr(back, k), k
    assert ds.load() is back  # read once per process
    ds.save(prepared)  # replaced whole, no leftovers beside it
    assert _ls(memory) == ["digits"]
    assert ds.load() is not back  # published again: read again
    assert set(ModelInputsDataset(memory).load()) == {"digits"}
    _fs().rm_file(f"{memory}/digits/{MARKER}")  # as a writer killed before its marker
    assert not ds.exists() and ModelInputsDataset(memory).load() == {}
    with pytest.raises(DatasetError, match="not published"):
        ds.load()


def test_a_file_url_is_a_local_store(tmp_path):
    """`file://` is a local disk: published by a rename, no marker, today's layout."""
    RunStore(f"file://{tmp_path}").save(_record())
    assert sorted(p.name for p in (tmp_path / "runs" / NAME).iterdir()) == FILES
    assert RunStore(tmp_path).complete(NAME, "a" * 64)
