"""Every parameter and every run of the sweep, checked before any work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..data import check_dataset, input_spec
from ..models import check_model
from ..params import check_params
from ..training import GateConfig
from .spec import sweep_specs
from .train import build_for


def validate(params: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a run needs, checked up front; raises ConfigError with one line.

    Returns the typed sections (`params.check_params`).
    """
    dataset = params.get("dataset")
    check_dataset(dataset)
    typed = check_params(params)
    kind, shape, classes = input_spec(dataset, params.get("data"))
    model = params.get("model") or {}
    check_model(model, kind, dataset)
    variants = (params.get("train_gated") or {}).get("variants") or {}
    for spec in sweep_specs(params):
        gates = None
        if spec.approach == "gating":
            gates = GateConfig.from_params(
                variants[spec.variant], f"train_gated.variants.{spec.variant}"
            )
        build_for(
            shape, classes, model, spec, gates, kind
        )  # builds it untrained: all that can fail
    return typed
