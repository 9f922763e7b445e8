"""train_fixed: fixed-ratio runs (ratios x patterns x seeds) and layerwise schedules."""

from kedro.pipeline import Pipeline

from ..per_run import sweep_pipeline
from ..sweep_config import registered_specs


def create_pipeline(**kwargs) -> Pipeline:
    return sweep_pipeline([s for s in registered_specs() if s.approach in ("fixed", "layerwise")])
