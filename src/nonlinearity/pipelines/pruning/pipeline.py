"""pruning: every stored trained run matching `select` whose key `pruning.sources` names
and that activation_analysis analysed, in one node; in `__default__`, each run of the
sweep by a node of its own, `pruning.<key>` (a no-op unless `pruning.sources` names the
key, so `--params=pruning.sources=...` is followed), which starts as soon as the run is
analysed, and `pruning.sweep` lists what they pruned (`pruned_runs`).

Each source run gets a new run, `<dataset>_<model>_pruned-<key>_c<digest>`, with its
decisions and folded model, written into the run store like any run.
"""

from kedro.pipeline import Pipeline, node

from .nodes import prune_if_source, prune_runs, sweep_pruned

INPUTS = [
    "run_store",
    "model_inputs",
    "activation_tables",
    "params:pruning",
    "params:activation_analysis",
    "params:measure",
    "params:select",
    "params:rerun",
]


def create_pipeline(runs: list[str] | None = None, **kwargs) -> Pipeline:
    """`runs`: datasets holding run names (the training nodes' `<key>.run_name`) to act on."""
    return Pipeline([node(prune_runs, [*INPUTS, *(runs or [])], "pruned_runs", name="prune_runs")])


def run_pipeline(key: str) -> Pipeline:
    """`pruning.<key>`: `<key>.run_name`, `<key>.activation_tables` -> `<key>.pruned_runs`."""
    inputs = [*INPUTS, f"{key}.run_name"]
    inputs[inputs.index("activation_tables")] = f"{key}.activation_tables"
    return Pipeline(
        [node(prune_if_source, inputs, f"{key}.pruned_runs", name=key, namespace="pruning")]
    )


def sweep_pipeline(keys: list[str]) -> Pipeline:
    """Every key's `pruning.<key>`, and `pruning.sweep`: their lists -> `pruned_runs`."""
    collect = node(
        sweep_pruned,
        ["params:pruning", *(f"{k}.pruned_runs" for k in keys)],
        "pruned_runs",
        name="sweep",
        namespace="pruning",
    )
    return sum((run_pipeline(k) for k in keys), Pipeline([collect]))
