"""pruning: every stored trained run matching `select` that activation_analysis analysed.

Each source run gets a new run, `<dataset>_<model>_pruned-<key>_c<digest>`, with its
decisions and folded model, written into the run store like any run.
"""

from kedro.pipeline import Pipeline, node

from .nodes import prune_runs


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                prune_runs,
                [
                    "run_store",
                    "model_inputs",
                    "activation_tables",
                    "params:pruning",
                    "params:activation_analysis",
                    "params:measure",
                    "params:select",
                    "params:rerun",
                ],
                "pruned_runs",
                name="prune_runs",
            )
        ]
    )
