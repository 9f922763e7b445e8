"""benchmark: every stored run matching `select` (default: all), measured one way, in one node.

Latency comes only from interleaved rounds: every selected run, the folded model of each
pruned run and their all-ReLU baselines are timed together per input shape and batch
size. The raw rounds, training throughput, FLOPs, nonlinear units and memory are merged
into each run's meta.json (atomically, after all were measured); the time ratio of each
run (and folded model) to its baseline, with its 95 % interval and verdict, goes to
`latency_comparison`.
"""

from kedro.pipeline import Pipeline, node

from .nodes import benchmark_runs


def create_pipeline(after: list[str] | None = None, **kwargs) -> Pipeline:
    """`after`: datasets the runs depend on (training and pruning outputs, in __default__)."""
    return Pipeline(
        [
            node(
                benchmark_runs,
                ["run_store", "params:benchmark", "params:select", *(after or [])],
                ["benchmark_meta", "latency_comparison", "benchmark_table"],
                name="benchmark_runs",
            )
        ]
    )
