"""The robustness nodes on a tiny store: each key's node attacks its run and the runs pruned
from it, writes <run>/robustness, and the one node attacks every selected run."""

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from nonlinearity.errors import ConfigError
from nonlinearity.pipelines import robustness
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import train_run
from tests.conftest import TINY_MEASURE, TINY_MODEL, TINY_TRAINING

PARAMS = {"samples": 64, "batch_size": 32, "device": "cpu", "pgd": {"steps": 3}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A store with fixed_0_s0 and fixed_100_s0 (one epoch each) and the digits input."""
    from nonlinearity.data import load_raw, make_splits

    splits = make_splits(load_raw("digits", "unused"), 0.1, 0.2, seed=0)
    store = RunStore(tmp_path_factory.mktemp("store"))
    names = {}
    for ratio in (0.0, 1.0):
        spec = RunSpec("fixed", seed=0, ratio=ratio)
        training = {**TINY_TRAINING, "epochs": 1}
        record = train_run(splits, TINY_MODEL, training, spec, None, TINY_MEASURE)
        store.save(record)
        names[spec.key] = record.name
    return store, {splits.name: lambda: splits}, names


def _catalog(store, inputs, **datasets):
    return DataCatalog(
        {
            "run_store": MemoryDataset(store, copy_mode="assign"),
            "model_inputs": MemoryDataset(inputs, copy_mode="assign"),
            "params:robustness": MemoryDataset(PARAMS),
            "params:select": MemoryDataset("*"),
            **{k: MemoryDataset(v) for k, v in datasets.items()},
        }
    )


def test_a_keys_node_attacks_its_run_and_its_pruned_runs(trained):
    store, inputs, names = trained
    pipe = robustness.run_pipeline("fixed_0_s0")
    assert [n.name for n in pipe.nodes] == ["robustness.fixed_0_s0"]
    # a pruned run is a stored run like any: here fixed_100_s0 stands in for one
    catalog = _catalog(
        store,
        inputs,
        **{
            "fixed_0_s0.run_name": names["fixed_0_s0"],
            "fixed_0_s0.pruned_runs": [names["fixed_100_s0"]],
        },
    )
    out = SequentialRunner().run(pipe, catalog)["fixed_0_s0.robustness"].load()
    assert set(out) == {f"{n}/robustness" for n in names.values()}
    rob = out[f"{names['fixed_0_s0']}/robustness"]
    assert rob["fingerprint"] == store.meta(names["fixed_0_s0"])["fingerprint"]
    assert rob["samples"] == 64 and rob["input"] == "image" and rob["pgd"]["steps"] == 3
    eps = [(r["attack"], r["epsilon"]) for r in rob["results"]]
    assert eps == [("fgsm", 0.0625), ("fgsm", 0.125), ("pgd", 0.0625), ("pgd", 0.125)]
    assert 0 < rob["clean_acc"] <= 1 and all(r["acc"] <= rob["clean_acc"] for r in rob["results"])


def test_a_run_not_trained_gets_nothing(trained):
    store, inputs, _ = trained
    catalog = _catalog(store, inputs, **{"k.run_name": "", "k.pruned_runs": []})
    assert (
        SequentialRunner().run(robustness.run_pipeline("k"), catalog)["k.robustness"].load() == {}
    )


def test_the_one_node_attacks_every_selected_run_and_checks_its_params(trained):
    store, inputs, names = trained
    pipe = robustness.create_pipeline()
    out = SequentialRunner().run(pipe, _catalog(store, inputs))["robustness"].load()
    assert set(out) == {f"{n}/robustness" for n in names.values()}
    bad = _catalog(store, inputs)
    bad["params:robustness"] = MemoryDataset({**PARAMS, "epsilons": {"digits": [16]}})
    with pytest.raises(ConfigError, match=r"robustness.epsilons.digits\[0\] = 16.0 is invalid"):
        SequentialRunner().run(pipe, bad)
