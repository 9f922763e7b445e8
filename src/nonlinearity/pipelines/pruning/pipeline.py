"""pruning: one node per trained run of the sweep (pick runs with --namespaces).

Reads each run's model, files and activation statistics (from activation_analysis)
and writes a new run, `<dataset>_<model>_pruned-<run>`, with its folded model.
"""

from kedro.pipeline import Pipeline, node

from ..runs import bind
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
    return sum(
        (
            Pipeline(
                [
                    node(
                        bind(prune_run, spec=s),
                        inputs=["model", "artifacts", "activation_tables", "model_input", *PARAMS],
                        outputs=["pruned_model", "folded_model", "pruned_artifacts", "decisions"],
                        name="prune",
                    )
                ],
                namespace=s.key,
                inputs={"model_input"},
                parameters=set(PARAMS),
            )
            for s in registered_specs()
        ),
        Pipeline([]),
    )
