"""pruning: one node per trained run of the sweep (pick runs with --namespaces).

Reads each run's model, files and activation statistics (from activation_analysis)
and writes a new run, `<dataset>_<model>_pruned-<run>`, with its folded model.
"""

from kedro.pipeline import Pipeline

from ..runs import per_run
from ..sweep_config import registered_specs
from .nodes import prune_run

PARAMS = [
    "params:dataset",
    "params:model",
    "params:training",
    "params:measure",
    "params:activation_analysis",
    "params:pruning",
]


def create_pipeline(**kwargs) -> Pipeline:
    return per_run(
        prune_run,
        ["model", "artifacts", "activation_tables", "model_input"],
        ["pruned_model", "folded_model", "pruned_artifacts", "decisions"],
        "prune",
        PARAMS,
        registered_specs(),
        free_inputs=("model_input",),
    )
