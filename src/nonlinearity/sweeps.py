"""Sweeps in params -> the list of runs they stand for, checked before any work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .analysis import AnalysisConfig
from .data import check_dataset, input_spec
from .data.splits import check_fractions, check_normalize
from .errors import ConfigError, check_settings
from .experiment import RunSpec, check_spec, parse_schedule, schedule_ratios
from .layers import PATTERNS
from .measure.benchmark import BenchmarkConfig
from .models import check_model
from .pruning import PruneConfig
from .training import GateConfig, TrainConfig


def _list(params: Mapping, key: str, prefix: str) -> list:
    value = params.get(key, [])
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{prefix}.{key} = {value!r} must be a list")
    return list(value)


def _seeds(params: Mapping, prefix: str) -> list[int]:
    seeds = _list(params, "seeds", prefix) or [0]
    for s in seeds:
        if not isinstance(s, int) or isinstance(s, bool):
            raise ConfigError(f"{prefix}.seeds: {s!r} is not an integer seed")
    return seeds


def fixed_specs(params: Mapping[str, Any] | None) -> list[RunSpec]:
    """`train_fixed`: ratios x patterns x seeds, then layerwise schedules x seeds."""
    params = params or {}
    specs = []
    patterns = _list(params, "patterns", "train_fixed") or ["random"]
    for p in patterns:
        if p not in PATTERNS:
            raise ConfigError(
                f"train_fixed.patterns: {p!r} is unknown; valid: {', '.join(PATTERNS)}"
            )
    for r in _list(params, "ratios", "train_fixed"):
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 <= r <= 1.0:
            raise ConfigError(f"train_fixed.ratios: {r!r} is outside [0, 1]")
    seeds = _seeds(params, "train_fixed")
    specs += [
        RunSpec("fixed", seed=s, ratio=float(r), pattern=p)
        for p in patterns
        for r in _list(params, "ratios", "train_fixed")
        for s in seeds
    ]
    lw = params.get("layerwise") or {}
    pattern = lw.get("pattern", "random")
    if pattern not in PATTERNS:
        raise ConfigError(
            f"train_fixed.layerwise.pattern {pattern!r} is unknown; valid: {', '.join(PATTERNS)}"
        )
    default = float(lw.get("default_ratio", 0.0))
    for name, schedule in (lw.get("schedules") or {}).items():
        sched = parse_schedule(schedule, name)
        for r in schedule_ratios(sched):
            if not 0.0 <= r <= 1.0:
                raise ConfigError(
                    f"train_fixed.layerwise.schedules.{name}: ratio {r} is outside [0, 1]"
                )
        specs += [
            RunSpec(
                "layerwise",
                seed=s,
                ratio=default,
                pattern=pattern,
                schedule_name=str(name),
                schedule=sched,
            )
            for s in _seeds(lw, "train_fixed.layerwise")
        ]
    return specs


def gated_specs(params: Mapping[str, Any] | None) -> list[RunSpec]:
    """`train_gated`: variants x seeds."""
    params = params or {}
    variants = params.get("variants") or {}
    return [
        RunSpec("gating", seed=s, variant=str(v))
        for v in variants
        for s in _seeds(params, "train_gated")
    ]


def check_tolerance(params: Mapping[str, Any] | None) -> float:
    """`reporting.tolerance`: an absolute accuracy in [0, 1)."""
    tol = check_settings(params, ["tolerance"], "reporting").get("tolerance", 0.01)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < 1:
        raise ConfigError(f"reporting.tolerance {tol!r} is invalid: an accuracy in [0, 1)")
    return float(tol)


def validate(params: Mapping[str, Any]) -> None:
    """Everything a run needs, checked up front; raises ConfigError with one line."""
    dataset = params.get("dataset")
    check_dataset(dataset)
    data = params.get("data") or {}
    check_fractions(data.get("val_fraction", 0.1), data.get("test_fraction", 0.2))
    check_normalize(data.get("normalize", "train"))
    TrainConfig.from_params(params.get("training"))
    BenchmarkConfig.from_params(params.get("benchmark"))
    AnalysisConfig.from_params(params.get("activation_analysis"))
    PruneConfig.from_params(params.get("pruning"))
    check_tolerance(params.get("reporting"))
    measure = params.get("measure") or {}
    bs = measure.get("latency_batch_size", 256)
    if not isinstance(bs, int) or isinstance(bs, bool) or bs <= 0:
        raise ConfigError(
            f"measure.latency_batch_size = {bs!r} is invalid: must be a positive integer"
        )
    if not float(measure.get("min_run_time_s", 0.5)) > 0:
        raise ConfigError("measure.min_run_time_s must be positive")
    kind, shape, classes = input_spec(dataset, data)
    model = params.get("model") or {}
    check_model(model, kind, dataset)
    variants = (params.get("train_gated") or {}).get("variants") or {}
    for spec in fixed_specs(params.get("train_fixed")) + gated_specs(params.get("train_gated")):
        gates = None
        if spec.approach == "gating":
            gates = GateConfig.from_params(
                variants[spec.variant], f"train_gated.variants.{spec.variant}"
            )
        check_spec(shape, classes, model, spec, gates, kind)
