"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Training pipelines include data_prep, so each runs alone from raw data."""
    pipelines = find_pipelines(raise_errors=True)
    prep = pipelines["data_prep"]
    for name in ("train_fixed", "train_gated"):
        pipelines[name] = prep + pipelines[name]
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
