"""Every parameter and every run of the sweep, checked before any work."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..data import check_dataset, input_spec
from ..errors import ConfigError
from ..models import check_model
from ..params import check_params
from ..training import GateConfig, TrainConfig, epochs_budget
from .name import format_name, parse_name
from .spec import collapsed_ratio, sweep_specs
from .train import activation_layers, build_for


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
    epochs = TrainConfig.from_params(params.get("training")).epochs
    for spec in sweep_specs(params):
        _check_name(dataset, model.get("name", "mlp"), spec)
        gates = None
        if spec.approach == "gating":
            where = f"train_gated.variants.{spec.variant}"
            gates = GateConfig.from_params(variants[spec.variant], where)
            epochs_budget(epochs, gates, where)
        build_for(shape, classes, model, spec, gates, kind)  # untrained: all that can fail
    return typed


@dataclass(frozen=True)
class Collapsed:
    """The sweep's layer-wise runs that are a fixed ratio on this data set's model
    (`spec.collapsed_ratio`): the sweep does not train them."""

    setting: str  # <dataset> · <model>
    layers: int  # the model's activation layers (of its target)
    runs: dict[str, tuple[str, float]]  # key -> (schedule name, the one ratio)

    def warning(self) -> str:
        """`layerwise low_to_high, high_to_low: digits32 · resnet18_head has 1 activation
        layer, so each is fixed 50 % (the same masks): not trained`"""
        by_ratio: dict[float, list[str]] = {}
        for name, ratio in self.runs.values():
            if name not in by_ratio.setdefault(ratio, []):
                by_ratio[ratio].append(name)
        names = [n for group in by_ratio.values() for n in group]
        if self.layers == 1:
            why = f"{self.setting} has 1 activation layer"
        else:
            why = f"on {self.setting} each gives all {self.layers} activation layers one ratio"
        if len(by_ratio) == 1:
            (ratio,) = by_ratio
            what = f"{'each' if len(names) > 1 else 'it'} is fixed {100 * ratio:g} %"
        else:
            what = "; ".join(f"{', '.join(n)}: fixed {100 * r:g} %" for r, n in by_ratio.items())
        return f"layerwise {', '.join(names)}: {why}, so {what} (the same masks): not trained"


def collapsed_runs(params: Mapping[str, Any]) -> Collapsed:
    """The sweep's collapsed layer-wise runs (params validated): one model is built."""
    model = params.get("model") or {}
    setting = f"{params['dataset']} · {model.get('name', 'mlp')}"
    specs = [s for s in sweep_specs(params) if s.approach == "layerwise"]
    if not specs:
        return Collapsed(setting, 0, {})
    kind, shape, classes = input_spec(params["dataset"], params.get("data"))
    layers = activation_layers(shape, classes, model, kind)
    ratios = [(s, collapsed_ratio(s, layers)) for s in specs]
    runs = {s.key: (s.schedule_name, r) for s, r in ratios if r is not None}
    return Collapsed(setting, layers, runs)
