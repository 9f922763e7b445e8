"""activation_analysis: every stored run matching `select` (default: all), in one node."""

from kedro.pipeline import Pipeline, node

from .nodes import analyse_runs


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                analyse_runs,
                ["run_store", "model_inputs", "params:activation_analysis", "params:select"],
                ["activation_stats", "activation_tables"],
                name="analyse_runs",
            )
        ]
    )
