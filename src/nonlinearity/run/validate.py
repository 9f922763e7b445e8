"""Every parameter and every run of the sweep, checked before any work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..data import check_dataset, input_spec
from ..errors import ConfigError
from ..models import check_model
from ..params import check_params
from ..training import GateConfig
from .name import format_name, parse_name
from .spec import sweep_specs
from .train import build_for


def _check_name(dataset: str, model: str, spec) -> None:
    """Schedule and variant names must survive the name grammar (letters, digits, _ . -)."""
    name = format_name(dataset, model, spec.key, "0" * 6)
    try:
        ok = parse_name(name).key == spec.key
    except ValueError:
        ok = False
    if not ok:
        what = "layerwise schedule" if spec.approach == "layerwise" else "gate variant"
        label = spec.schedule_name or spec.variant
        raise ConfigError(
            f"{what} name {label!r} cannot be part of a run name: use letters, digits, _ . -"
        )


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
        _check_name(dataset, model.get("name", "mlp"), spec)
        gates = None
        if spec.approach == "gating":
            gates = GateConfig.from_params(
                variants[spec.variant], f"train_gated.variants.{spec.variant}"
            )
        build_for(
            shape, classes, model, spec, gates, kind
        )  # builds it untrained: all that can fail
    return typed
