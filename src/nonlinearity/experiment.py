"""One run: build -> apply approach -> fit (-> harden -> fine-tune) -> measure.

A run is one (dataset, model, approach, ratio / schedule / gate variant, seed).
Its name encodes those, with the ratio as an integer percent token:
`digits_mlp_fixed_50_s0`, `digits_mlp_fixed-structured_50_s0`,
`digits_mlp_layerwise-low_to_high_s0`, `digits_mlp_gated-base_s0`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .data import Splits, to_device
from .errors import ConfigError
from .history import linear_share
from .layers import Approach, GatedActivation, apply_approach
from .measure import efficiency
from .models import BackboneHead, build_model, resolve_target
from .prepare import check_model_input
from .training import GateConfig, TrainConfig, fit, harden
from .training.loop import evaluate_metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSpec:
    """The part of a run's identity that a sweep varies."""

    approach: str  # fixed | layerwise | gating
    seed: int = 0
    ratio: float = 0.0  # fixed: share of linear neurons
    pattern: str = "random"
    schedule_name: str = ""  # layerwise: key in the schedules param
    schedule: Mapping[int, float] | tuple[float, ...] = field(default_factory=dict)
    variant: str = ""  # gating: key in the variants param

    @property
    def key(self) -> str:
        """Run name without dataset and model; also the node name and dataset namespace."""
        if self.approach == "fixed":
            head = "fixed" if self.pattern == "random" else f"fixed-{self.pattern}"
            return f"{head}_{round(self.ratio * 100)}_s{self.seed}"
        if self.approach == "layerwise":
            return f"layerwise-{self.schedule_name}_s{self.seed}"
        return f"gated-{self.variant}_s{self.seed}"

    def approach_config(self, gates: GateConfig | None, target: str) -> Approach:
        return Approach(
            kind=self.approach,
            ratio=self.ratio,
            pattern=self.pattern,
            schedule=self.schedule if isinstance(self.schedule, tuple) else dict(self.schedule),
            init_alpha=gates.init_alpha if gates else 0.9,
            temperature=gates.temperature_start if gates else 1.0,
            seed=self.seed,
            target=target,
        )


def run_name(dataset: str, model: str, spec: RunSpec) -> str:
    return f"{dataset}_{model}_{spec.key}"


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


def example_input(kind: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Two samples to trace activation sites with: token ids for text, zeros otherwise."""
    if kind == "text":
        return torch.ones((2, *shape), dtype=torch.long)
    return torch.zeros((2, *shape))


def build_for(
    splits_shape: tuple[int, ...],
    num_classes: int,
    model_params: Mapping,
    spec: RunSpec,
    gates: GateConfig | None,
    seed: int,
    kind: str = "image",
) -> tuple[nn.Module, Approach]:
    """Seeded model with the approach applied (on CPU)."""
    torch.manual_seed(seed)
    model = build_model(model_params, splits_shape, num_classes, kind)
    target = resolve_target(model, model_params.get("target", "all"))
    approach = spec.approach_config(gates, target)
    apply_approach(model, approach, example_input(kind, splits_shape))
    return model, approach


def check_spec(
    input_shape: tuple[int, ...],
    num_classes: int,
    model_params: Mapping,
    spec: RunSpec,
    gates: GateConfig | None,
    kind: str = "image",
) -> None:
    """Everything that can be wrong with a run, found by building it without training."""
    build_for(input_shape, num_classes, model_params, spec, gates, spec.seed, kind)


def run_experiment(
    splits: Splits,
    model_params: Mapping[str, Any],
    train_params: Mapping[str, Any],
    spec: RunSpec,
    gate_params: Mapping[str, Any] | None = None,
    measure_params: Mapping[str, Any] | None = None,
) -> tuple[nn.Module, list[dict], dict]:
    """Train and measure one run; returns (model on CPU, history, meta)."""
    train_cfg = TrainConfig.from_params(train_params)
    gates = GateConfig.from_params(gate_params) if spec.approach == "gating" else None
    measure_params = dict(measure_params or {})
    model_name = model_params.get("name", "mlp")
    name = run_name(splits.name, model_name, spec)
    device = train_cfg.resolve_device()
    check_model_input(splits, model_params)
    kind = "image" if splits.kind == "features" else splits.kind
    model, approach = build_for(
        splits.model_input_shape, splits.num_classes, model_params, spec, gates, spec.seed, kind
    )
    if splits.kind == "features":  # train the head on the cached outputs of this backbone
        assert isinstance(model, BackboneHead)
        model.set_backbone(copy.deepcopy(splits.backbone))
    model.to(device)
    data = to_device(splits, device)
    started = time.perf_counter()
    log.info(
        "%s: %d train / %d val / %d test samples on %s", name, *splits.sizes().values(), device
    )

    history = fit(model, data, train_cfg, spec.seed, gates=gates, label=name)
    soft_alphas = None
    if gates:
        soft_alphas = {  # each neuron's gate before hardening, for the reports' distributions
            n: [round(a, 4) for a in m.alpha().detach().cpu().tolist()]
            for n, m in model.named_modules()
            if isinstance(m, GatedActivation)
        }
        history.append(harden(model, data, train_cfg, gates, label=name))
        if gates.finetune_epochs:
            history += fit(
                model,
                data,
                train_cfg,
                spec.seed + 1,
                epochs=gates.finetune_epochs,
                first_epoch=train_cfg.epochs + 1,
                phase="finetune",
                label=name,
            )
    test = evaluate_metrics(
        model, data.x_test, data.y_test, train_cfg.eval_batch_size, train_cfg.amp, data.topk
    )
    test_loss, test_acc = test["loss"], test["acc"]
    train_time = time.perf_counter() - started
    log.info("%s: test_acc %.4f  (%.1fs)", name, test_acc, train_time)

    eff = efficiency(
        model,
        splits.model_input_shape,
        device,
        int(measure_params.get("latency_batch_size", 256)),
        float(measure_params.get("min_run_time_s", 0.5)),
    )
    last = history[-1]
    meta = {
        "run_name": name,
        **eff,
        "metrics": {
            "val_acc": last["val_acc"],
            "val_loss": last["val_loss"],
            "test_acc": test_acc,
            "test_loss": test_loss,
            **{f"test_{k}": v for k, v in test.items() if k.startswith("top")},
            "linear_ratio": linear_share(last["gating"]),
            "train_time_s": train_time,
        },
        **({"gates_before_hardening": soft_alphas} if soft_alphas else {}),
        "config": {
            "run_name": name,
            "dataset": splits.name,
            "model": dict(model_params),
            "approach": spec.approach,
            "linear_ratio": spec.ratio if spec.approach == "fixed" else None,
            "pattern": spec.pattern if spec.approach != "gating" else None,
            "schedule_name": spec.schedule_name or None,
            "schedule": _schedule_meta(approach.schedule),
            "variant": spec.variant or None,
            "gating": asdict(gates) if gates else None,
            "seed": spec.seed,
            "training": asdict(train_cfg),
            "measure": measure_params,
            "data": {
                "sizes": splits.sizes(),
                "input_shape": list(splits.model_input_shape),
                "num_classes": splits.num_classes,
                "kind": splits.kind,
                "synthetic": splits.synthetic,
                "augment": splits.augment,
                **({"cached_features": list(splits.input_shape)} if splits.image_shape else {}),
            },
            "device": str(device),
            "torch": torch.__version__,
        },
    }
    return model.cpu(), history, meta


def _schedule_meta(schedule: Mapping[int, float] | tuple[float, ...]) -> Any:
    if isinstance(schedule, tuple):
        return list(schedule)
    return {str(k): v for k, v in schedule.items()} or None
