"""Project pipelines."""

import warnings

from kedro.pipeline import Pipeline

from .pipelines import (
    activation_analysis,
    benchmark,
    data_prep,
    pruning,
    reporting,
    robustness,
    train_fixed,
    train_gated,
)

# Each run of the sweep is a Kedro namespace (`<key>.train` -> `<key>.record`,
# `<key>.run_name`), as Kedro means dots to be used; Kedro warns when a node reads a
# dataset of another namespace, which this project does by design: a matched run reads its
# gated run's record, and the nodes after training collect every run's name.
warnings.filterwarnings(
    "ignore", message="One or more dataset names contain '.'", module="kedro.pipeline.node"
)


MODULES = {
    "activation_analysis": activation_analysis,
    "benchmark": benchmark,
    "data_prep": data_prep,
    "pruning": pruning,
    "reporting": reporting,
    "robustness": robustness,
    "train_fixed": train_fixed,
    "train_gated": train_gated,
}


def register_pipelines() -> dict[str, Pipeline]:
    """Training pipelines include data_prep, so each runs alone from raw data.

    The pipelines are listed (`MODULES`), not found by `find_pipelines`, which, asked for
    one pipeline by the command line, looks for a folder of its name (`sweep` has none).
    `sweep` trains every run of the sweep and nothing after (to train on a cluster, then
    analyse and report where the results are); `__default__` is the whole study of one
    data set:

        data_prep -> train_fixed + train_gated (+ matched runs) -> activation_analysis
        -> pruning -> robustness -> benchmark -> reporting

    ordered by datasets: the later pipelines read the run store, so each takes the
    outputs of the one before as extra inputs. In `__default__` each run of the sweep is
    analysed and pruned by nodes of its own (`analysis.<key>`, `pruning.<key>`), which
    start as soon as its training node ends, so a parallel runner overlaps them with the
    runs still training; run alone, activation_analysis and pruning are one node each
    over every stored run that `select` picks. Each run and the runs pruned from it are
    attacked by `robustness.<key>` once pruned, before the benchmark times anything.
    """
    pipelines = {name: module.create_pipeline() for name, module in MODULES.items()}
    prep = pipelines["data_prep"]
    for name in ("train_fixed", "train_gated"):
        pipelines[name] = prep + pipelines[name]
    trained = pipelines["train_fixed"] + pipelines["train_gated"]
    runs = sorted(o for o in trained.all_outputs() if o.endswith(".run_name"))
    keys = [r.removesuffix(".run_name") for r in runs]
    attacked = [f"{k}.robustness" for k in keys]  # benchmark times after the attacks, alone
    pipelines["sweep"] = trained
    pipelines["__default__"] = (
        trained
        + sum((activation_analysis.run_pipeline(k) for k in keys), Pipeline([]))
        + pruning.sweep_pipeline(keys)
        + robustness.sweep_pipeline(keys)
        + benchmark.create_pipeline(after=[*runs, "pruned_runs", *attacked])
        + reporting.create_pipeline(after=["benchmark_table", "pruned_runs", *attacked])
        + robustness.report_pipeline()
    )
    pipelines["reporting"] += robustness.report_pipeline()
    return pipelines
