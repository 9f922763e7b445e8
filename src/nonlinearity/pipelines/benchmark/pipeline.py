"""benchmark: one node per run of the sweep, an interleaved comparison, one table."""

from kedro.pipeline import Pipeline, node

from ..runs import per_run
from ..sweep_config import registered_specs
from .nodes import benchmark_run, benchmark_table, compare_latency

PARAMS = ["params:dataset", "params:model", "params:benchmark"]


def create_pipeline(**kwargs) -> Pipeline:
    specs = registered_specs()
    rows = [f"benchmark_row_{s.key}" for s in specs]
    runs = per_run(
        benchmark_run,
        ["model", "artifacts"],
        ["benchmark_row", "benchmark_meta"],
        "benchmark",
        PARAMS,
        specs,
        outputs_for=lambda s: {"benchmark_row": f"benchmark_row_{s.key}"},
    )
    compare = node(
        compare_latency,
        inputs=["models", "params:benchmark", *rows],
        outputs="latency_comparison",
        name="compare_latency",
    )
    table = node(
        benchmark_table,
        inputs=["latency_comparison", *rows],
        outputs="benchmark_table",
        name="benchmark_table",
    )
    return runs + Pipeline([compare, table])
