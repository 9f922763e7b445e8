"""The pruning node: which stored runs it prunes (`pruning.sources`, the sweep's runs)."""

import pytest

from nonlinearity.analysis import AnalysisConfig, analyse
from nonlinearity.errors import DataUnavailableError
from nonlinearity.pipelines.pruning.nodes import prune_if_source, prune_runs, sweep_pruned
from nonlinearity.pruning import PruneConfig
from nonlinearity.run.name import parse_name
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import load_model, train_run
from tests.conftest import TINY_MEASURE, TINY_MODEL, TINY_TRAINING

ANALYSIS = {"samples": 64}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A store with fixed_0_s0, fixed_50_s0 and fixed_0_s1, and their activation tables."""
    from nonlinearity.data import load_raw, make_splits

    splits = make_splits(load_raw("digits", "unused"), 0.1, 0.2, seed=0)
    store = RunStore(tmp_path_factory.mktemp("store"))
    tables = {}
    for ratio, seed in ((0.0, 0), (0.5, 0), (0.0, 1)):
        spec = RunSpec("fixed", seed=seed, ratio=ratio)
        record = train_run(splits, TINY_MODEL, TINY_TRAINING, spec, None, TINY_MEASURE)
        store.save(record)
        cfg = AnalysisConfig.from_params(ANALYSIS)
        neurons, _, _ = analyse(load_model(store, record.name), splits, cfg, record.name)
        tables[f"{record.name}/activation_neurons"] = lambda n=neurons: n
    return store, {splits.name: lambda: splits}, tables


def _prune(analysed, sources=None, runs=()):
    store, inputs, tables = analysed
    params = {"finetune_epochs": 1, **({"sources": sources} if sources else {})}
    names = prune_runs(store, inputs, tables, params, ANALYSIS, TINY_MEASURE, "*", True, *runs)
    return sorted(parse_name(n).source_key for n in names)


def test_by_default_the_all_relu_runs_and_the_gated_runs_are_pruned(analysed):
    assert PruneConfig().sources == ["fixed_0_s*", "gated-*"]
    assert _prune(analysed) == ["fixed_0_s0", "fixed_0_s1"]
    assert _prune(analysed, ["*"]) == ["fixed_0_s0", "fixed_0_s1", "fixed_50_s0"]
    assert _prune(analysed, ["fixed_50_*", "gated-*"]) == ["fixed_50_s0"]


def test_in_the_default_pipeline_only_the_sweeps_runs(analysed):
    store = analysed[0]
    (s1,) = [n for n in store.names() if "_fixed_0_s1_" in n]
    assert _prune(analysed, runs=(s1, "")) == ["fixed_0_s1"]


def test_sources_that_name_no_run_say_so(analysed):
    with pytest.raises(DataUnavailableError) as info:
        _prune(analysed, ["gated-*"])
    assert str(info.value).startswith(
        "none of the 3 selected runs is a source of pruning (pruning.sources ['gated-*']): "
    )


def test_sources_do_not_decide_the_pruned_run(analysed):
    """The pruned run of fixed_0_s0 is the same run whatever else `sources` names; its
    fine-tuning is counted on top of its source's epochs."""
    store = analysed[0]
    _prune(analysed)
    before = {n: store.meta(n)["fingerprint"] for n in store.names() if "pruned-" in n}
    _prune(analysed, ["fixed_0_s0", "fixed_50_s0"])
    after = {n: store.meta(n)["fingerprint"] for n in store.names() if "pruned-" in n}
    assert {n: f for n, f in after.items() if n in before} == before
    meta = store.meta(next(n for n in before if "pruned-fixed_0_s0" in n))
    assert meta["config"]["epochs_budget"] == {"source": 2, "finetune": 1, "total": 3}
    assert meta["config"]["epochs_total"] == 3 and "sources" not in meta["config"]["pruning"]


def _prune_key(analysed, run, sources=None, select="*"):
    store, inputs, tables = analysed
    params = {"finetune_epochs": 1, **({"sources": sources} if sources else {})}
    names = prune_if_source(
        store, inputs, tables, params, ANALYSIS, TINY_MEASURE, select, True, run
    )
    return [parse_name(n).source_key for n in names]


def test_a_runs_own_prune_node_prunes_it_only_when_sources_name_its_key(analysed):
    """`pruning.<key>` of `__default__`: [its pruned run] or [], following `sources` at run
    time; `sweep_pruned` lists them, and says so when the sweep pruned nothing."""
    store = analysed[0]
    (s0,) = [n for n in store.names() if "_fixed_0_s0_" in n]
    (f50,) = [n for n in store.names() if "_fixed_50_s0_" in n]
    assert _prune_key(analysed, s0) == ["fixed_0_s0"]
    assert _prune_key(analysed, f50) == []
    assert _prune_key(analysed, f50, ["fixed_50_*"]) == ["fixed_50_s0"]
    assert _prune_key(analysed, "") == []  # not trained (diverged)
    assert _prune_key(analysed, s0, select="*_fixed_50_*") == []
    assert sweep_pruned({}, ["a"], [], ["b"]) == ["a", "b"]
    with pytest.raises(DataUnavailableError, match=r"^no run of this sweep was pruned: "):
        sweep_pruned({"sources": ["gated-*"]}, [], [])
