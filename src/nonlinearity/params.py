"""Typed params: every section of conf/base/parameters*.yml is a dataclass, and
`parse(cls, params, prefix)` turns the section's mapping into an instance of it.

The field types say what a value may be, and `setting(...)` declares the limits
beside the field (`lr: float = setting(1e-3, gt=0)`). Checked, with one ConfigError
line for the first problem:

- keys that are not fields, at every level:
  `training.epoch is not a setting; did you mean 'epochs'? valid: amp, batch_size, ...`
  ("did you mean" where difflib finds a close name);
- types and ranges, `<path> = <value> is invalid: must be <what>`:
  `bool` takes true or false only; `int` integers, not booleans; `float` finite
  numbers (integers become floats; strings, inf and nan are refused); `str` strings;
  `X | None` also null; `list[X]` each item, as `<path>[i]`; `dict[str, X]` each
  value, as `<path>.<key>`; a nested dataclass is a mapping checked under
  `<path>.` (null: its defaults). E.g. `training.amp = 'maybe' is invalid: must be
  true or false`, `training.lr = 0 is invalid: must be a finite number > 0`,
  `data.val_fraction = 1.0 is invalid: must be a number in (0, 1)`;
- enumerations, `Literal[...]` or `setting(choices=...)`:
  `data.normalize 'z' is unknown; valid: train, imagenet`;
- a field's own check, `setting(check=...)`, e.g. a device this machine lacks:
  `training.device 'cuda:3' is not available here: no CUDA device; valid here: auto, cpu`.

`check_params` checks the whole parameter tree: the top-level keys
(`trainng is not a setting; did you mean 'training'? valid: ...`; keys starting with
`_` are YAML anchors), every section, and the data/model/training/measure of every
setup, and returns the typed sections.
"""

from __future__ import annotations

import difflib
import math
import numbers
import operator
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from functools import cache, partial
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from .errors import ConfigError

T = TypeVar("T")

_BOUNDS = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}


def setting(
    default: Any = MISSING,
    *,
    factory: Any = MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Iterable[Any] | None = None,
    nonempty: bool = False,
    check: Callable[[Any, str], None] | None = None,
) -> Any:
    """A dataclass field with its limits: bounds (on each item, for lists), choices,
    a non-empty list, or a `check(value, path)` that raises ConfigError."""
    meta: dict[str, Any] = {
        k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None
    }
    if choices is not None:
        meta["choices"] = tuple(choices)
    if nonempty:
        meta["nonempty"] = True
    if check is not None:
        meta["check"] = check
    return field(default=default, default_factory=factory, metadata=meta)


def unknown_setting(key: Any, valid: Iterable[str], prefix: str = "") -> ConfigError:
    """`<prefix>.<key> is not a setting; did you mean '<close>'? valid: a, b, c`."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(key), valid, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    name = f"{prefix}.{key}" if prefix else str(key)
    return ConfigError(f"{name} is not a setting; {hint}valid: {', '.join(valid)}")


def parse(cls: type[T], params: Mapping[str, Any] | None, prefix: str) -> T:
    """`params` (null: all defaults) as a checked `cls`; keys left out keep their defaults."""
    if isinstance(params, cls):
        return params
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise _invalid(prefix, params, "a mapping of settings")
    names = [f.name for f in fields(cls) if f.init]
    if unknown := sorted((k for k in params if k not in names), key=str):
        raise unknown_setting(unknown[0], names, prefix)
    hints = _hints(cls)
    values = {
        f.name: _value(hints[f.name], params[f.name], f"{prefix}.{f.name}", f.metadata)
        for f in fields(cls)
        if f.name in params
    }
    return cls(**values)


def recorded(settings: Mapping[str, Any], added: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as a run records and fingerprints them: every field, but those added after
    runs were stored (`added`: field -> the value runs had before) left out at that value,
    so those runs keep their fingerprints and names."""
    return {k: v for k, v in settings.items() if k not in added or v != added[k]}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _invalid(path: str, value: Any, what: str) -> ConfigError:
    return ConfigError(f"{path} = {value!r} is invalid: must be {what}")


def _value(tp: Any, value: Any, path: str, meta: Mapping[str, Any]) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    optional = origin in (Union, types.UnionType) and type(None) in args
    if optional:
        if value is None:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"{path}: only `X | None` unions are settings, not {tp!r}")
        tp = rest[0]
        origin, args = get_origin(tp), get_args(tp)
    choices = args if origin is Literal else meta.get("choices")
    if origin is list:  # bounds and choices hold for each item
        if not isinstance(value, (list, tuple)) or (meta.get("nonempty") and not value):
            raise _invalid(path, value, _what(tp, meta, optional))
        item = {k: v for k, v in meta.items() if k not in ("nonempty", "check")}
        value = [_value(args[0], v, f"{path}[{i}]", item) for i, v in enumerate(value)]
    elif choices is not None:
        if value not in choices:
            raise ConfigError(f"{path} {value!r} is unknown; valid: {', '.join(map(str, choices))}")
    elif tp is Any:
        pass
    elif is_dataclass(tp):
        value = parse(tp, value, path)
    elif origin is dict:
        if not isinstance(value, Mapping):
            raise _invalid(path, value, _what(tp, meta, optional))
        value = {k: _value(args[1], v, f"{path}.{k}", {}) for k, v in value.items()}
    elif not _fits(tp, value, meta):
        raise _invalid(path, value, _what(tp, meta, optional))
    elif tp in (int, float):
        value = tp(value)
    if check := meta.get("check"):
        check(value, path)
    return value


def _fits(tp: Any, value: Any, meta: Mapping[str, Any]) -> bool:
    if tp is bool or tp is str:
        return isinstance(value, tp)
    if tp is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif tp is float:
        ok = (
            isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        )
    else:
        raise TypeError(f"no check for settings of type {tp!r}")
    return ok and all(_BOUNDS[k](value, b) for k, b in meta.items() if k in _BOUNDS)


def _what(tp: Any, meta: Mapping[str, Any], optional: bool) -> str:
    """What a value must be, in words."""
    origin = get_origin(tp)
    if tp is bool:
        what = "true or false"
    elif tp is str:
        what = "a string"
    elif tp in (int, float):
        what = _number(tp, meta)
    elif origin is list:
        what = "a non-empty list" if meta.get("nonempty") else "a list"
    else:
        what = "a mapping"
    return f"{what}, or null" if optional else what


def _number(tp: type, meta: Mapping[str, Any]) -> str:
    lo = next(((k, meta[k]) for k in ("ge", "gt") if k in meta), None)
    hi = next(((k, meta[k]) for k in ("le", "lt") if k in meta), None)
    if tp is int and hi is None and lo in (("ge", 1), ("gt", 0)):
        return "a positive integer"
    if lo and hi:
        noun = "an integer" if tp is int else "a number"
        left, right = "[" if lo[0] == "ge" else "(", "]" if hi[0] == "le" else ")"
        return f"{noun} in {left}{lo[1]:g}, {hi[1]:g}{right}"
    noun = "an integer" if tp is int else "a finite number"
    sign = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    bound = lo or hi
    return f"{noun} {sign[bound[0]]} {bound[1]:g}" if bound else noun


# --- the parameter tree ------------------------------------------------------------------


@dataclass(frozen=True)
class ReportingConfig:
    """`reporting`: how the report judges the runs (docs/metrics.md, "Claims")."""

    tolerance: float = setting(0.01, ge=0, lt=1)  # "within tolerance of the baseline": accuracy
    alpha_change: float = setting(0.02, ge=0)  # §19: gates converged if no layer's mean α ...
    alpha_window: int = setting(3, ge=1)  # ... moved more over the last this many soft epochs
    hardening_collapse: float = setting(0.05, ge=0, lt=1)  # val accuracy lost at hardening
    layer_spread: float = setting(0.05, ge=0)  # per-layer share sd across seeds: consistent
    class_balance: float = setting(0.05, ge=0)  # class-share distance: representative sample


TOP_LEVEL = (
    "dataset",  # the setup in use
    "data",
    "model",
    "training",
    "measure",
    "setups",  # per data set: data, model, training, measure
    "train_fixed",
    "train_gated",
    "activation_analysis",
    "benchmark",
    "pruning",
    "reporting",
    "robustness",  # accuracy under FGSM and PGD (parameters_robustness.yml)
    "rerun",  # re-train runs whose complete record has the same fingerprint
    "select",  # stored runs the analysis pipelines act on (parameters_select.yml)
)
SETUP_KEYS = ("data", "model", "training", "measure")
# the sweep sections' own values are read by `run.validate`; their keys are checked here
SWEEP_KEYS = {
    "train_fixed": ("ratios", "patterns", "seeds", "layerwise"),
    "train_fixed.layerwise": ("pattern", "default_ratio", "seeds", "schedules"),
    "train_gated": ("seeds", "variants", "matched_fixed"),
}


def _sections() -> dict[str, Callable[[Any, str], Any]]:
    """Section name -> its parser, `(params, prefix) -> typed`, in the order checked."""
    # imported here: the sections' modules import this one
    from .analysis.analyse import AnalysisConfig
    from .data.splits import DataConfig
    from .measure.benchmark import BenchmarkConfig, MeasureConfig
    from .measure.robustness import RobustnessConfig
    from .models import model_config
    from .pruning.prune import PruneConfig
    from .training.config import TrainConfig

    return {
        "data": partial(parse, DataConfig),
        "model": model_config,
        "training": partial(parse, TrainConfig),
        "measure": partial(parse, MeasureConfig),
        "activation_analysis": partial(parse, AnalysisConfig),
        "benchmark": partial(parse, BenchmarkConfig),
        "pruning": partial(parse, PruneConfig),
        "reporting": partial(parse, ReportingConfig),
        "robustness": partial(parse, RobustnessConfig),
    }


def _keys(params: Any, valid: Iterable[str] | None, prefix: str) -> dict[str, Any]:
    """`params` (null: empty) as a dict, or a ConfigError for a key not in `valid`."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise _invalid(prefix, params, "a mapping of settings")
    if valid is not None and (unknown := sorted(set(params) - set(valid), key=str)):
        raise unknown_setting(unknown[0], valid, prefix)
    return dict(params)


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """All params, checked before any node runs; the typed sections by name.

    Returns `data`, `model`, `training`, `measure`, `activation_analysis`,
    `benchmark`, `pruning` and `reporting` as their dataclasses, and `rerun`. The
    settings of every setup and every gate variant are checked too; the sweeps'
    other values (ratios, patterns, seeds, schedules) are for `run.validate`.
    """
    from .training.config import GateConfig

    _keys({k: v for k, v in params.items() if not str(k).startswith("_")}, TOP_LEVEL, "")
    rerun = _value(bool, params.get("rerun", False), "rerun", {})
    select = _value(str, params.get("select", "*"), "select", {})
    sections = _sections()
    typed = {name: check(params.get(name), name) for name, check in sections.items()}
    for name, setup in _keys(params.get("setups"), None, "setups").items():
        for key, value in _keys(setup, SETUP_KEYS, f"setups.{name}").items():
            sections[key](value, f"setups.{name}.{key}")
    fixed = _keys(params.get("train_fixed"), SWEEP_KEYS["train_fixed"], "train_fixed")
    _keys(fixed.get("layerwise"), SWEEP_KEYS["train_fixed.layerwise"], "train_fixed.layerwise")
    gated = _keys(params.get("train_gated"), SWEEP_KEYS["train_gated"], "train_gated")
    for name, variant in _keys(gated.get("variants"), None, "train_gated.variants").items():
        GateConfig.from_params(variant, f"train_gated.variants.{name}")
    return {**typed, "rerun": rerun, "select": select}
