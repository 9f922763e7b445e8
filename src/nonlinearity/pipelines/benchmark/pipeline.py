"""benchmark: every stored run matching `select` (default: all), measured one way, in one node.

Latency at each batch size, training throughput, FLOPs, nonlinear units and memory
are merged into each run's meta.json (atomically, after all were measured); runs are
timed in turns against their all-ReLU run for the latency ratios.
"""

from kedro.pipeline import Pipeline, node

from .nodes import benchmark_runs


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                benchmark_runs,
                ["run_store", "params:benchmark", "params:select"],
                ["benchmark_meta", "latency_comparison", "benchmark_table"],
                name="benchmark_runs",
            )
        ]
    )
