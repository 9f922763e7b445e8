"""Matched runs: fixed random masks at the gated run's hardened per-layer shares."""

import pytest

from nonlinearity.errors import DataUnavailableError
from nonlinearity.run.matched import train_matched
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import load_model, train_run
from tests.conftest import TINY_MEASURE, TINY_MODEL, TINY_TRAINING

# gates that end near the threshold, so the layers harden to different shares
GATES = {"init_alpha": 0.52, "l1": 0.05, "gate_lr": 0.01, "finetune_epochs": 1}
MATCHED = RunSpec("matched", variant="b")


def _gated(splits, store, gates=GATES, training=TINY_TRAINING):
    record = train_run(
        splits, TINY_MODEL, training, RunSpec("gating", variant="b"), gates, TINY_MEASURE
    )
    store.save(record)
    return record


def _matched(splits, store, gates=GATES, training=TINY_TRAINING):
    return train_matched(splits, TINY_MODEL, training, MATCHED, gates, TINY_MEASURE, None, store)


def _shares(record, epoch):
    (r,) = [r for r in record.history if r["epoch"] == epoch]
    return [1 - s["alpha_mean"] for s in r["gating"]]


def test_the_matched_run_has_the_gated_runs_hardened_shares(digits_splits, tmp_path):
    store = RunStore(tmp_path)
    gated = _gated(digits_splits, store)
    matched = _matched(digits_splits, store)
    shares = _shares(gated, "hardened")
    assert len(set(shares)) > 1  # per layer, not one overall ratio
    assert _shares(matched, TINY_TRAINING["epochs"]) == shares
    assert [r["epoch"] for r in matched.history] == [1, 2]  # training.epochs, like fixed runs
    assert all(r["phase"] == "train" for r in matched.history)
    cfg = matched.meta["config"]
    assert cfg["approach"] == "matched" and cfg["pattern"] == "random"
    assert cfg["source_run"] == gated.name and cfg["variant"] == "b" and cfg["seed"] == 0
    assert cfg["layer_ratios"] == shares  # k_i / C_i exactly
    assert cfg["linear_ratio"] == matched.meta["metrics"]["linear_ratio"]
    assert cfg["linear_ratio"] == pytest.approx(sum(shares) / 3)
    assert cfg["epochs_budget"] == {"train": 2, "total": 2}
    assert matched.meta["settings"]["source"] == {
        "run": gated.name,
        "fingerprint": gated.fingerprint,
    }
    assert matched.name.startswith("digits_mlp_matched-b_s0_c")

    store.save(matched)
    model, source = load_model(store, matched.name), load_model(store, gated.name)
    acts = [(getattr(model, f"act{i}"), getattr(source, f"act{i}")) for i in range(3)]
    assert [m.n_nonlinear for m, _ in acts] == [s.n_nonlinear for _, s in acts]
    # random masks of those shares, not the neurons the gates chose
    assert not all(bool((m.nonlinear_mask == s.nonlinear_mask).all()) for m, s in acts)
    again = _matched(digits_splits, store)
    assert again.skipped and again.name == matched.name


def test_a_retrained_gated_run_makes_a_new_matched_run(digits_splits, tmp_path):
    """Other gated settings: another gated fingerprint, so another matched fingerprint and
    name, even where the shares come out the same."""
    store = RunStore(tmp_path)
    _gated(digits_splits, store)
    first = _matched(digits_splits, store)
    other = {**GATES, "harden_threshold": 0.4}
    gated = _gated(digits_splits, store, other)
    second = _matched(digits_splits, store, other)
    assert second.meta["config"]["source_run"] == gated.name
    assert second.fingerprint != first.fingerprint and second.name != first.name


def test_without_its_gated_run_it_says_what_to_run(digits_splits, tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        _matched(digits_splits, RunStore(tmp_path))
    assert str(info.value).startswith("matched-b_s0 needs its gated run digits_mlp_gated-b_s0_c")
    assert str(info.value).endswith(
        "which is not stored: train it first (kedro run --namespaces=gated-b_s0,matched-b_s0)"
    )


def test_a_failed_gated_run_fails_its_matched_run(digits_splits, tmp_path):
    store = RunStore(tmp_path)
    diverging = {**TINY_TRAINING, "lr": 1e30}
    gated = _gated(digits_splits, store, training=diverging)
    assert gated.status == "failed"
    matched = _matched(digits_splits, store, training=diverging)
    assert matched.status == "failed" and matched.weights is None and matched.history == []
    assert matched.meta["error"] == f"{matched.name}: its gated run {gated.name} failed"
    assert matched.meta["config"]["source_run"] == gated.name
