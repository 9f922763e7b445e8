"""activation_analysis: every stored run matching `select` (default: all), in one node;
in `__default__`, the runs of this sweep only."""

from kedro.pipeline import Pipeline, node

from .nodes import analyse_runs


def create_pipeline(runs: list[str] | None = None, **kwargs) -> Pipeline:
    """`runs`: datasets holding run names (the training nodes' `<key>.run_name`) to act on."""
    inputs = ["run_store", "model_inputs", "params:activation_analysis", "params:select"]
    return Pipeline(
        [
            node(
                analyse_runs,
                [*inputs, *(runs or [])],
                ["activation_stats", "activation_tables"],
                name="analyse_runs",
            )
        ]
    )
