"""robustness: every stored run matching `select` (default: all), in one node; in
`__default__`, each run of the sweep and the runs pruned from it by a node of their own,
`robustness.<key>`, which starts when pruning has made them (`--namespaces=robustness`
runs them all). Each writes runs/<run_name>/robustness.json: clean accuracy and accuracy
under FGSM and PGD at each ε (`measure/robustness.py`).

`report_pipeline` is its part of the report: the table per data set and configuration,
data/08_reporting/robustness.csv (the figure and the sentence are reporting's).
"""

from kedro.pipeline import Pipeline, node

from .nodes import attack_run, attack_runs, tabulate

INPUTS = ["run_store", "model_inputs", "params:robustness", "params:select"]


def create_pipeline(runs: list[str] | None = None, **kwargs) -> Pipeline:
    """`runs`: datasets holding run names (the training nodes' `<key>.run_name`) to act on."""
    return Pipeline([node(attack_runs, [*INPUTS, *(runs or [])], "robustness", name="attack")])


def run_pipeline(key: str) -> Pipeline:
    """`robustness.<key>`: `<key>.run_name`, `<key>.pruned_runs` -> `<key>.robustness` (the
    same files in runs/<run_name>/ as `robustness`)."""
    inputs = [*INPUTS, f"{key}.run_name", f"{key}.pruned_runs"]
    return Pipeline(
        [node(attack_run, inputs, f"{key}.robustness", name=key, namespace="robustness")]
    )


def sweep_pipeline(keys: list[str]) -> Pipeline:
    return sum((run_pipeline(k) for k in keys), Pipeline([]))


def report_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                tabulate,
                "findings",
                "robustness_table",
                name="tabulate_robustness",
            )
        ]
    )
