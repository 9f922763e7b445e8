"""data_prep: raw_data -> splits -> model_input."""

from kedro.pipeline import Pipeline, node

from ...data.prepare import prepare_model_input
from .nodes import split_data


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                split_data, inputs=["raw_data", "params:data"], outputs="splits", name="split_data"
            ),
            node(
                prepare_model_input,
                inputs=["splits", "params:model", "params:data", "params:training"],
                outputs="model_input",
                name="prepare_model_input",
            ),
        ]
    )
