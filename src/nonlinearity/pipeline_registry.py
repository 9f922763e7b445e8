"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from .pipelines import data_prep

AFTER_TRAINING = ("benchmark", "activation_analysis", "pruning")


def register_pipelines() -> dict[str, Pipeline]:
    """Training pipelines include data_prep, so each runs alone from raw data.

    Kedro may load only the requested pipelines, so data_prep is built here directly.
    `benchmark`, `activation_analysis` and `pruning` read trained runs and are run after
    them, so they stay out of `__default__`.
    """
    pipelines = find_pipelines(raise_errors=True)
    prep = data_prep.create_pipeline()
    for name in ("train_fixed", "train_gated"):
        if name in pipelines:
            pipelines[name] = prep + pipelines[name]
    pipelines["__default__"] = sum(
        (p for n, p in pipelines.items() if n not in ("__default__", *AFTER_TRAINING)), Pipeline([])
    )
    return pipelines
