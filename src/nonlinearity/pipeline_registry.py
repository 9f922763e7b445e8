"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from .pipelines import (
    activation_analysis,
    benchmark,
    data_prep,
    pruning,
    reporting,
    train_fixed,
    train_gated,
)


def register_pipelines() -> dict[str, Pipeline]:
    """Training pipelines include data_prep, so each runs alone from raw data.

    Kedro may load only the requested pipelines, so the ones others are built from are
    built here directly. `__default__` is the whole study of one data set:

        data_prep -> train_fixed + train_gated (+ matched runs) -> activation_analysis
        -> pruning -> benchmark -> reporting

    ordered by datasets: the later pipelines read the run store, so each takes the
    outputs of the one before as extra inputs. activation_analysis and pruning act on the
    runs this sweep trained or skipped (the training nodes' `<key>.run_name`); run alone,
    each acts on every stored run that `select` picks.
    """
    pipelines = find_pipelines(raise_errors=True)
    prep = data_prep.create_pipeline()
    training = {"train_fixed": train_fixed, "train_gated": train_gated}
    for name in training:
        if name in pipelines:
            pipelines[name] = prep + pipelines[name]
    trained = prep + sum((m.create_pipeline() for m in training.values()), Pipeline([]))
    runs = sorted(o for o in trained.all_outputs() if o.endswith(".run_name"))
    pipelines["__default__"] = (
        trained
        + activation_analysis.create_pipeline(runs=runs)
        + pruning.create_pipeline(runs=runs)
        + benchmark.create_pipeline(after=[*runs, "pruned_runs"])
        + reporting.create_pipeline(after=["benchmark_table", "pruned_runs"])
    )
    return pipelines
