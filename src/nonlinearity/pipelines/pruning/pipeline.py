"""pruning: every stored trained run matching `select` whose key `pruning.sources` names
and that activation_analysis analysed; in `__default__`, the runs of this sweep only.

Each source run gets a new run, `<dataset>_<model>_pruned-<key>_c<digest>`, with its
decisions and folded model, written into the run store like any run.
"""

from kedro.pipeline import Pipeline, node

from .nodes import prune_runs


def create_pipeline(runs: list[str] | None = None, **kwargs) -> Pipeline:
    """`runs`: datasets holding run names (the training nodes' `<key>.run_name`) to act on."""
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
                    *(runs or []),
                ],
                "pruned_runs",
                name="prune_runs",
            )
        ]
    )
