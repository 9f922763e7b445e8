"""What a sweep varies: one `RunSpec` per run, expanded from the sweep params.

A sweep is `train_fixed` (ratios x patterns x seeds, then layer-wise schedules x
seeds) and `train_gated` (variants x seeds, then, with `matched_fixed`, one matched
run per gated run: a fixed random-pattern run at the gated run's hardened per-layer
linear shares, `run/matched.py`). A spec holds only what the sweep varies; the
settings every run shares (data, model, training) come from params.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError
from ..layers import PATTERNS, Approach

APPROACHES = ("fixed", "layerwise", "gating", "matched")


@dataclass(frozen=True)
class RunSpec:
    """The part of a run's identity that a sweep varies."""

    approach: str  # fixed | layerwise | gating | matched
    seed: int = 0
    ratio: float = 0.0  # fixed: share of linear neurons; layerwise: layers not scheduled
    pattern: str = "random"
    schedule_name: str = ""  # layerwise: key in the schedules param
    # layerwise: the schedule; matched: layer -> the gated run's hardened linear share
    schedule: Mapping[int, float] | tuple[float, ...] = field(default_factory=dict)
    variant: str = ""  # gating, matched: key in the variants param

    @property
    def key(self) -> str:
        """What the run varies, seed included: the node's namespace and the name's middle."""
        if self.approach == "fixed":
            head = "fixed" if self.pattern == "random" else f"fixed-{self.pattern}"
            return f"{head}_{round(self.ratio * 100)}_s{self.seed}"
        if self.approach == "layerwise":
            return f"layerwise-{self.schedule_name}_s{self.seed}"
        if self.approach == "matched":
            return f"matched-{self.variant}_s{self.seed}"
        return f"gated-{self.variant}_s{self.seed}"

    @property
    def source_key(self) -> str | None:
        """matched: the key of the gated run whose shares it takes."""
        return f"gated-{self.variant}_s{self.seed}" if self.approach == "matched" else None

    def approach_config(self, init_alpha: float, temperature: float, target: str) -> Approach:
        """The masks: a matched run is a per-layer schedule of fixed random masks."""
        return Approach(
            kind="layerwise" if self.approach == "matched" else self.approach,
            ratio=self.ratio,
            pattern=self.pattern,
            schedule=self.schedule if isinstance(self.schedule, tuple) else dict(self.schedule),
            init_alpha=init_alpha,
            temperature=temperature,
            seed=self.seed,
            target=target,
        )

    def settings(self) -> dict[str, Any]:
        """The spec as plain JSON values (recorded in meta.json, rebuilt by `from_settings`)."""
        return {
            "approach": self.approach,
            "seed": self.seed,
            "ratio": self.ratio,
            "pattern": self.pattern,
            "schedule_name": self.schedule_name or None,
            "schedule": schedule_json(self.schedule),
            "variant": self.variant or None,
        }

    @classmethod
    def from_settings(cls, s: Mapping[str, Any]) -> RunSpec:
        return cls(
            approach=s["approach"],
            seed=int(s["seed"]),
            ratio=float(s["ratio"]),
            pattern=s["pattern"],
            schedule_name=s.get("schedule_name") or "",
            schedule=parse_schedule(s.get("schedule") or {}, s.get("schedule_name") or ""),
            variant=s.get("variant") or "",
        )


def schedule_json(schedule: Mapping[int, float] | tuple[float, ...]) -> Any:
    if isinstance(schedule, tuple):
        return list(schedule)
    return {str(k): v for k, v in schedule.items()} or None


def parse_schedule(schedule: Any, name: str = "") -> dict[int, float] | tuple[float, ...]:
    """`{0: 0.2, "1": 0.5}` -> `{0: 0.2, 1: 0.5}` (layer indices); `[0.2, 0.8]` -> a ramp.

    A list gives ratios spread evenly from the first to the last activation layer,
    interpolated linearly, so one schedule fits models of any depth.
    """
    if isinstance(schedule, (list, tuple)):
        try:
            ramp = tuple(float(v) for v in schedule)
        except (TypeError, ValueError):
            raise ConfigError(
                f"layerwise schedule {name!r}: {list(schedule)!r} must be a list of ratios"
            ) from None
        if not ramp:
            raise ConfigError(f"layerwise schedule {name!r} is empty")
        return ramp
    out = {}
    for k, v in dict(schedule or {}).items():
        try:
            out[int(k)] = float(v)
        except (TypeError, ValueError):
            raise ConfigError(
                f"layerwise schedule {name!r}: entry {k!r}: {v!r} must map a layer index to a ratio"
            ) from None
    return out


def schedule_ratios(schedule: Mapping[int, float] | tuple[float, ...]) -> list[float]:
    return list(schedule) if isinstance(schedule, tuple) else list(schedule.values())


def layer_ratios(spec: RunSpec, layers: int) -> list[float] | None:
    """The linear ratio of each of a model's `layers` activation layers (gating: None).

    Layer i's mask is `linear_mask(C_i, ratio_i, pattern, seed + i)` whatever the
    approach, so two specs of the same seed and pattern with the same ratios here
    have the same masks.
    """
    if spec.approach == "gating":
        return None
    approach = spec.approach_config(0.9, 1.0, "all")
    return [approach.ratio_for(i, layers) for i in range(layers)]


def collapsed_ratio(spec: RunSpec, layers: int) -> float | None:
    """A layer-wise spec whose ratios are one ratio on all `layers` layers: that ratio.

    Such a run is the fixed run of that ratio (same seed, pattern and masks), so the
    sweep does not train it. None for every other spec.
    """
    if spec.approach != "layerwise" or layers < 1:
        return None
    ratios = layer_ratios(spec, layers) or []
    return ratios[0] if len(set(ratios)) == 1 else None


def _list(params: Mapping, key: str, prefix: str) -> list:
    value = params.get(key, [])
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{prefix}.{key} = {value!r} must be a list")
    return list(value)


def _seeds(params: Mapping, prefix: str) -> list[int]:
    """The group's seeds: [0] when it names none; `seeds: []` is no run of the group."""
    seeds = _list(params, "seeds", prefix) if "seeds" in params else [0]
    for s in seeds:
        if not isinstance(s, int) or isinstance(s, bool):
            raise ConfigError(f"{prefix}.seeds: {s!r} is not an integer seed")
    return seeds


def fixed_specs(params: Mapping[str, Any] | None) -> list[RunSpec]:
    """`train_fixed`: ratios x patterns x seeds, then layerwise schedules x seeds."""
    params = params or {}
    patterns = _list(params, "patterns", "train_fixed") or ["random"]
    for p in patterns:
        if p not in PATTERNS:
            raise ConfigError(
                f"train_fixed.patterns: {p!r} is unknown; valid: {', '.join(PATTERNS)}"
            )
    ratios = _list(params, "ratios", "train_fixed")
    for r in ratios:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 <= r <= 1.0:
            raise ConfigError(f"train_fixed.ratios: {r!r} is outside [0, 1]")
    seeds = _seeds(params, "train_fixed")
    specs = [
        RunSpec("fixed", seed=s, ratio=float(r), pattern=p)
        for p in patterns
        for r in ratios
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
    """`train_gated`: variants x seeds, then (`matched_fixed`, default true) the matched
    run of each, whose ratios its gated run's record gives when it trains."""
    params = params or {}
    variants = params.get("variants") or {}
    gated = [
        RunSpec("gating", seed=s, variant=str(v))
        for v in variants
        for s in _seeds(params, "train_gated")
    ]
    matched = params.get("matched_fixed", True)
    if not isinstance(matched, bool):
        raise ConfigError(
            f"train_gated.matched_fixed = {matched!r} is invalid: must be true or false"
        )
    return gated + ([replace(g, approach="matched") for g in gated] if matched else [])


def sweep_specs(params: Mapping[str, Any]) -> list[RunSpec]:
    """Every run of the sweep in params: fixed and layer-wise, gated, then matched.

    Two runs whose keys coincide (ratios named in whole percent: 0.12 and 0.125) would
    be one node: refused.
    """
    specs = fixed_specs(params.get("train_fixed")) + gated_specs(params.get("train_gated"))
    seen: dict[str, RunSpec] = {}
    for s in specs:
        if s.key in seen:
            raise ConfigError(
                f"train_fixed.ratios {seen[s.key].ratio} and {s.ratio} both name run {s.key} "
                "(ratios are named in whole percent): give ratios of distinct whole percents"
                if s.approach == "fixed"
                else f"two runs of the sweep are both named {s.key}"
            )
        seen[s.key] = s
    return specs


def resolve_spec(spec: RunSpec, layerwise: Mapping[str, Any] | None) -> RunSpec:
    """A layer-wise spec with its schedule, default ratio and pattern as params give them now.

    The list of runs is fixed when pipelines are registered; the values inside a run
    follow `--params`.
    """
    if spec.approach != "layerwise":
        return spec
    lw = layerwise or {}
    return RunSpec(
        "layerwise",
        seed=spec.seed,
        ratio=float(lw.get("default_ratio", 0.0)),
        pattern=lw.get("pattern", "random"),
        schedule_name=spec.schedule_name,
        schedule=parse_schedule(lw["schedules"][spec.schedule_name], spec.schedule_name),
    )
