"""activation_analysis: one node per trained run of the sweep (pick runs with --namespaces)."""

from kedro.pipeline import Pipeline

from ..runs import per_run
from ..sweep_config import registered_specs
from .nodes import analyse_run

PARAMS = ["params:dataset", "params:model", "params:activation_analysis"]


def create_pipeline(**kwargs) -> Pipeline:
    return per_run(
        analyse_run,
        ["model", "model_input"],
        ["activation_stats", "activation_tables"],
        "analyse",
        PARAMS,
        registered_specs(),
        free_inputs=("model_input",),
    )
