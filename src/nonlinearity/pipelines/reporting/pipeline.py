"""reporting: collect -> summary -> one node per figure, tables, findings -> report.md."""

from kedro.pipeline import Pipeline, node

from ...reporting import FIGURES
from ...reporting.neurons import agreement_frame
from ..per_run import bind
from .nodes import collect, find, plot, report, summarise, tables


def create_pipeline(after: list[str] | None = None, **kwargs) -> Pipeline:
    """`after`: datasets the run files depend on (the training outputs, in __default__)."""
    nodes = [
        node(collect, ["runs", "run_store", *(after or [])], "run_records", name="collect_runs"),
        node(
            summarise,
            "run_records",
            ["run_summary", "analysis_summary", "layer_table"],
            name="summarise_runs",
        ),
        node(
            tables,
            ["findings", "run_summary"],
            ["efficiency_ranking", "cross_architecture"],
            name="make_tables",
        ),
        node(
            find,
            ["run_summary", "layer_table", "run_records", "params:reporting"],
            "findings",
            name="find",
        ),
        node(agreement_frame, "findings", "neuron_agreement", name="neuron_agreement_table"),
        node(
            report,
            ["findings", "run_summary", "cross_architecture", "efficiency_ranking", "layer_table"],
            "report",
            name="write_report",
        ),
    ]
    nodes += [
        node(
            bind(plot, name=name),
            ["run_summary", "run_records"],
            f"figure_{name}",
            name=f"plot_{name}",
        )
        for name in FIGURES
    ]
    return Pipeline(nodes)
