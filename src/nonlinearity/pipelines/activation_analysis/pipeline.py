"""activation_analysis: one node per trained run of the sweep (pick runs with --namespaces)."""

from kedro.pipeline import Pipeline, node

from ..runs import bind
from ..sweep_config import registered_specs
from .nodes import analyse_run

PARAMS = ["params:dataset", "params:model", "params:activation_analysis"]


def create_pipeline(**kwargs) -> Pipeline:
    return sum(
        (
            Pipeline(
                [
                    node(
                        bind(analyse_run, spec=s),
                        inputs=["model", "model_input", *PARAMS],
                        outputs=["activation_stats", "activation_tables"],
                        name="analyse",
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
