"""data_prep: raw_data -> splits."""

from kedro.pipeline import Pipeline, node

from .nodes import split_data


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [node(split_data, inputs=["raw_data", "params:data"], outputs="splits", name="split_data")]
    )
