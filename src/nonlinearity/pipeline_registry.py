"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from .pipelines import data_prep, reporting, train_fixed, train_gated


def register_pipelines() -> dict[str, Pipeline]:
    """Training pipelines include data_prep, so each runs alone from raw data.

    Kedro may load only the requested pipelines, so the ones others are built from are
    built here directly. `__default__` trains the sweep and writes the report;
    `benchmark`, `activation_analysis` and `pruning` read trained runs and are run after
    them (then `reporting` again to include them).
    """
    pipelines = find_pipelines(raise_errors=True)
    prep = data_prep.create_pipeline()
    training = {"train_fixed": train_fixed, "train_gated": train_gated}
    for name in training:
        if name in pipelines:
            pipelines[name] = prep + pipelines[name]
    trained = prep + sum((m.create_pipeline() for m in training.values()), Pipeline([]))
    artifacts = sorted(o for o in trained.all_outputs() if o.endswith(".record"))
    pipelines["__default__"] = trained + reporting.create_pipeline(after=artifacts)
    return pipelines
