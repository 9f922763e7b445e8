"""train_gated: gated runs (variants x seeds): fit, harden, fine-tune; then (with
`train_gated.matched_fixed`) each one's matched fixed run at its hardened shares."""

from kedro.pipeline import Pipeline

from ..per_run import sweep_pipeline
from ..sweep_config import registered_specs


def create_pipeline(**kwargs) -> Pipeline:
    return sweep_pipeline([s for s in registered_specs() if s.approach in ("gating", "matched")])
