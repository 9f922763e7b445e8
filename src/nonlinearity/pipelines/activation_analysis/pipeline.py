"""activation_analysis: every stored run matching `select` (default: all), in one node;
in `__default__`, each run of the sweep by a node of its own, `analysis.<key>`, which
starts as soon as the run is trained (`--namespaces=analysis` runs them all; the run's
own namespace, `--namespaces=<key>`, stays its training)."""

from kedro.pipeline import Pipeline, node

from .nodes import analyse_run, analyse_runs

INPUTS = ["run_store", "model_inputs", "params:activation_analysis", "params:select"]


def create_pipeline(runs: list[str] | None = None, **kwargs) -> Pipeline:
    """`runs`: datasets holding run names (the training nodes' `<key>.run_name`) to act on."""
    return Pipeline(
        [
            node(
                analyse_runs,
                [*INPUTS, *(runs or [])],
                ["activation_stats", "activation_tables"],
                name="analyse_runs",
            )
        ]
    )


def run_pipeline(key: str) -> Pipeline:
    """`analysis.<key>`: `<key>.run_name` -> `<key>.activation_stats`, `<key>.activation_tables`
    (the same files in runs/<run_name>/ as `activation_stats`, `activation_tables`)."""
    outputs = [f"{key}.activation_stats", f"{key}.activation_tables"]
    return Pipeline(
        [node(analyse_run, [*INPUTS, f"{key}.run_name"], outputs, name=key, namespace="analysis")]
    )
