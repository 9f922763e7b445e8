"""One run: build -> apply approach -> fit (-> harden -> fine-tune) -> measure -> record.

Every trained run has `training.epochs` epochs in all (`epochs_budget`): a gated run
trains `epochs - finetune_epochs` soft epochs, hardens, then fine-tunes
`finetune_epochs` more, its epochs numbered on. A layer-wise spec whose ratios are one
ratio on this model (`spec.collapsed_ratio`) is the fixed run of that ratio: it is
not trained and nothing is stored.

The run checkpoints after every `training.checkpoint_every` epochs into the store's
`partial/<name>/`; a run started again with the same fingerprint continues from its
last checkpoint, and on CPU its history equals an uninterrupted run's. A run whose
complete record with the same fingerprint is stored is skipped (unless `rerun`).
A non-finite loss or weight ends the run as `failed`, with the line that says why.
"""

from __future__ import annotations

import copy
import io
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..data import Splits, to_device
from ..data.prepare import check_model_input, data_fingerprint, resolved_data
from ..device import cpu_threads
from ..layers import Approach, GatedActivation, apply_approach, gated_layers
from ..layers.apply import find_activation_sites, layer_stats
from ..layers.budget import attach, check_budget, relu_costs
from ..measure import efficiency
from ..measure.benchmark import MeasureConfig
from ..models import BackboneHead, build_model, for_stored_weights, model_settings, resolve_target
from ..params import parse
from ..training import GateConfig, TrainConfig, epochs_budget, fit, harden
from ..training.config import gate_settings
from ..training.loop import DivergedError, evaluate_metrics
from .fingerprint import fingerprint, project_version, provenance
from .history import linear_share
from .name import format_name
from .record import COMPLETE, FAILED, RunRecord, result_metrics, run_meta, split_timing
from .spec import RunSpec, collapsed_ratio, layer_ratios
from .store import RunStore

log = logging.getLogger(__name__)

# Settings that do not change what a run computes (where it checkpoints, which CUDA index,
# how many CPU threads: those change float rounding, recorded in meta.json, not the result).
NOT_FINGERPRINTED = ("device", "checkpoint_every", "threads")
FOLDED = "folded.safetensors"  # a pruned run's folded model


@dataclass(frozen=True)
class RunId:
    """Who a run is: its name and the fingerprint of everything that decides its result."""

    name: str
    fingerprint: str
    settings: dict
    model_input: str  # sha256 of the tensors it trains on


def run_settings(
    dataset: str,
    data_params: Mapping[str, Any] | None,
    model_params: Mapping[str, Any],
    train_cfg: TrainConfig,
    spec: RunSpec,
    gates: GateConfig | None,
    source: Mapping[str, str] | None = None,
) -> tuple[str, dict]:
    """(name, settings) of a run: what decides its result, as params give it, unloaded.

    `source`: a matched run's gated run (`run`, `fingerprint`), so a gated run trained
    again makes a new matched run.
    """
    training = {k: v for k, v in asdict(train_cfg).items() if k not in NOT_FINGERPRINTED}
    training["device_type"] = train_cfg.resolve_device().type
    settings = {
        "dataset": dataset,
        "data": resolved_data(data_params),  # every key, defaults written out
        "model": model_settings(model_params),  # every field, less those added later, unset
        "training": training,
        "run": spec.settings(),
        "gating": gate_settings(gates),
        "epochs_budget": epochs_budget(train_cfg.epochs, gates),
        **({"source": dict(source)} if source else {}),
    }
    name = format_name(dataset, model_params.get("name", "mlp"), spec.key, fingerprint(settings))
    return name, settings


def identify(
    splits: Splits,
    model_params: Mapping[str, Any],
    data_params: Mapping[str, Any] | None,
    train_cfg: TrainConfig,
    spec: RunSpec,
    gates: GateConfig | None,
    source: Mapping[str, str] | None = None,
) -> RunId:
    """The run's name and its fingerprint: settings, the model input's and the project version."""
    name, settings = run_settings(
        splits.name, data_params, model_params, train_cfg, spec, gates, source
    )
    data = data_fingerprint(splits)
    full = fingerprint({"settings": settings, "model_input": data, "version": project_version()})
    return RunId(name, full, settings, data)


def example_input(kind: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Two samples to trace activation sites with: token ids for text, zeros otherwise."""
    if kind == "text":
        return torch.ones((2, *shape), dtype=torch.long)
    return torch.zeros((2, *shape))


def activation_layers(
    input_shape: tuple[int, ...], num_classes: int, model_params: Mapping, kind: str = "image"
) -> int:
    """How many activation layers the approaches act on (`model.target`) in this model."""
    model = build_model(model_params, input_shape, num_classes, kind)
    target = resolve_target(model, model_params.get("target", "all"))
    return len(find_activation_sites(model, example_input(kind, input_shape), target))


def build_for(
    input_shape: tuple[int, ...],
    num_classes: int,
    model_params: Mapping,
    spec: RunSpec,
    gates: GateConfig | None,
    kind: str = "image",
) -> tuple[nn.Module, Approach]:
    """Seeded model with the approach applied (on CPU): the same weights for the same spec.

    A `relu_budget` the gates cannot make exactly stops here; else the gates carry the
    model's ReLU costs for the budget regulariser (`layers.budget`).
    """
    torch.manual_seed(spec.seed)
    model = build_model(model_params, input_shape, num_classes, kind)
    target = resolve_target(model, model_params.get("target", "all"))
    approach = spec.approach_config(
        gates.init_alpha if gates else 0.9, gates.temperature_start if gates else 1.0, target
    )
    example = example_input(kind, input_shape)
    apply_approach(model, approach, example)
    if gates is not None and gates.relu_budget is not None:
        costs = relu_costs(model, example)
        check_budget(costs, gates.relu_budget, f"train_gated.variants.{spec.variant}")
        attach(costs)
    return model, approach


def module_state(model: nn.Module) -> dict[str, dict]:
    """What a state dict leaves out: each gate's temperature and whether it is hardened."""
    return {
        n: {"hardened": m.hardened, "temperature": m.temperature}
        for n, m in model.named_modules()
        if isinstance(m, GatedActivation)
    }


def restore_module_state(model: nn.Module, state: Mapping[str, Mapping]) -> None:
    for n, m in model.named_modules():
        if isinstance(m, GatedActivation) and n in state:
            m.temperature = float(state[n]["temperature"])
            m.hardened = bool(state[n]["hardened"])
            m.logit.requires_grad_(not m.hardened)


def _checkpointer(store: RunStore | None, run: RunId, model: nn.Module, every: int):
    """`on_epoch` for `fit`: every `every` epochs, the model and the loop's state to disk."""
    if store is None or every <= 0:
        return None, lambda *_, **__: None

    def save(phase: str, prior: list[dict], loop: dict | None, **extra: Any) -> None:
        store.save_checkpoint(
            run.name,
            {
                "fingerprint": run.fingerprint,
                "phase": phase,
                "prior": prior,
                "loop": loop,
                "model": model.state_dict(),
                "module_state": module_state(model),
                **extra,
            },
        )

    def on_epoch_for(phase: str, prior: list[dict], extra: dict):
        def on_epoch(record: dict, state) -> None:
            loop = state()
            if len(loop["history"]) % every == 0:
                save(phase, prior, loop, **extra)

        return on_epoch

    return on_epoch_for, save


def train_run(
    splits: Splits,
    model_params: Mapping[str, Any],
    train_params: Mapping[str, Any],
    spec: RunSpec,
    gate_params: Mapping[str, Any] | None = None,
    measure_params: Mapping[str, Any] | None = None,
    data_params: Mapping[str, Any] | None = None,
    store: RunStore | None = None,
    rerun: bool = False,
    source: Mapping[str, str] | None = None,
) -> RunRecord:
    """Train and measure one run; returns its record (skipped when already stored, not
    trained when it is another run in disguise). `source`: see `run_settings`.

    On the CPU it computes with `training.threads` threads (None: the process's budget).
    """
    train_cfg = TrainConfig.from_params(train_params)
    with cpu_threads(train_cfg.threads):
        return _train_run(
            splits, model_params, train_cfg, spec, gate_params, measure_params, data_params,
            store, rerun, source,
        )  # fmt: skip


def _train_run(
    splits: Splits,
    model_params: Mapping[str, Any],
    train_cfg: TrainConfig,
    spec: RunSpec,
    gate_params: Mapping[str, Any] | None,
    measure_params: Mapping[str, Any] | None,
    data_params: Mapping[str, Any] | None,
    store: RunStore | None,
    rerun: bool,
    source: Mapping[str, str] | None,
) -> RunRecord:
    gates = GateConfig.from_params(gate_params) if spec.approach == "gating" else None
    budget = epochs_budget(train_cfg.epochs, gates)
    check_model_input(splits, model_params, data_params)
    run = identify(splits, model_params, data_params, train_cfg, spec, gates, source)
    if store is not None and not rerun and store.complete(run.name, run.fingerprint):
        log.info("%s: skipped, its complete record has the same fingerprint", run.name)
        store.clear_partial(run.name)  # leftovers of a kill after the record was written
        return RunRecord(run.name, [], {"fingerprint": run.fingerprint}, skipped=True)
    name, device = run.name, train_cfg.resolve_device()
    kind = "image" if splits.kind == "features" else splits.kind
    model, approach = build_for(
        splits.model_input_shape, splits.num_classes, model_params, spec, gates, kind
    )
    layers = len(layer_stats(model))
    if (ratio := collapsed_ratio(spec, layers)) is not None:  # never stored, so never skipped
        each = "its 1 activation layer" if layers == 1 else f"all {layers} activation layers"
        why = f"its ratio is {100 * ratio:g} % on {each}"
        log.info("%s: not trained: %s, so it is fixed %g %%", name, why, 100 * ratio)
        return RunRecord(name, [], {"fingerprint": run.fingerprint}, not_trained=why)
    if splits.kind == "features":  # train the head on the cached outputs of this backbone
        assert isinstance(model, BackboneHead)
        model.set_backbone(copy.deepcopy(splits.backbone))
    ratios = layer_ratios(spec, layers)
    resume = store.load_checkpoint(name, run.fingerprint) if store is not None else None
    if resume is not None:
        model.load_state_dict(resume["model"])
        restore_module_state(model, resume["module_state"])
        done = len(resume["prior"]) + len((resume["loop"] or {}).get("history", []))
        log.info(
            "%s: resumed from its checkpoint after %d records (%s)", name, done, resume["phase"]
        )
    model.to(device)
    data = to_device(splits, device)
    started = time.perf_counter()
    log.debug(
        "%s: %d train / %d val / %d test samples on %s", name, *splits.sizes().values(), device
    )

    every = train_cfg.checkpoint_every
    on_epoch_for, save = _checkpointer(store, run, model, every)
    phase = resume["phase"] if resume else "train"
    history: list[dict] = list(resume["prior"]) if resume else []
    soft_alphas = resume.get("soft_alphas") if resume else None
    soft = budget.get("soft", budget["total"])  # epochs before hardening
    try:
        if phase == "train":
            history += fit(
                model,
                data,
                train_cfg,
                spec.seed,
                gates=gates,
                epochs=soft,
                label=name,
                on_epoch=on_epoch_for("train", [], {}) if on_epoch_for else None,
                resume=resume["loop"] if resume else None,
            )
        if gates and phase == "train":
            soft_alphas = {  # each neuron's gate before hardening, for the reports
                n: [round(a, 4) for a in m.alpha().detach().cpu().tolist()]
                for n, m in model.named_modules()
                if isinstance(m, GatedActivation)
            }
            history.append(harden(model, data, train_cfg, gates, label=name))
            save("finetune", list(history), None, soft_alphas=soft_alphas)
        if gates and budget["finetune"]:
            history += fit(
                model,
                data,
                train_cfg,
                spec.seed + 1,
                epochs=budget["finetune"],
                first_epoch=soft + 1,
                phase="finetune",
                label=name,
                on_epoch=(
                    on_epoch_for("finetune", list(history), {"soft_alphas": soft_alphas})
                    if on_epoch_for
                    else None
                ),
                resume=resume["loop"] if resume and phase == "finetune" else None,
            )
    except DivergedError as exc:
        log.error("%s", exc)
        history += exc.history  # the phase's epochs up to the one that diverged
        config = approach_fields(spec, budget, ratios, source, None)
        return failed_record(run, spec, splits, str(exc), history, train_cfg, gates, device, config)

    test = evaluate_metrics(
        model, data.x_test, data.y_test, train_cfg.eval_batch_size, train_cfg.amp, data.topk
    )
    train_time = time.perf_counter() - started
    log.info("%s: test_acc %.4f  (%.1fs)", name, test["acc"], train_time)
    measure = parse(MeasureConfig, measure_params, "measure")
    eff = efficiency(
        model, splits.model_input_shape, device, measure.latency_batch_size, measure.min_run_time_s
    )
    history, timing = split_timing(history)
    last = history[-1]
    share = linear_share(last["gating"])
    meta = run_meta(
        name,
        COMPLETE,
        result_metrics(last, test, share, train_time),
        _identity(
            run,
            spec,
            splits,
            train_cfg,
            gates,
            asdict(measure),
            device,
            approach_fields(spec, budget, ratios, source, share),
        ),
        eff,
        **({"gates_before_hardening": soft_alphas} if soft_alphas else {}),
    )
    model.cpu()
    return RunRecord(
        name,
        history,
        meta,
        timing={"epochs": timing, "train_time_s": train_time},
        weights=model.state_dict(),
        module_state=module_state(model),
    )


def approach_fields(
    spec: RunSpec,
    budget: Mapping[str, int],
    ratios: list[float] | None,
    source: Mapping[str, str] | None,
    share: float | None,
) -> dict[str, Any]:
    """meta.json `config` fields of the approach: linear ratio, per-layer ratios, epochs,
    and a matched run's gated run (its ratio is the realised share, `share`)."""
    ratio = {"fixed": spec.ratio, "matched": share}.get(spec.approach)
    return {
        "linear_ratio": ratio,
        "layer_ratios": ratios,
        "epochs_budget": dict(budget),
        "epochs_total": budget["total"],
        **({"source_run": source["run"]} if source else {}),
    }


def _identity(
    run: RunId,
    spec: RunSpec,
    splits: Splits,
    train_cfg: TrainConfig,
    gates: GateConfig | None,
    measure: Mapping[str, Any],
    device: torch.device,
    approach: Mapping[str, Any],
) -> dict[str, Any]:
    """The meta.json fields that say what the run is: fingerprint, settings, config
    (`approach`: its fields from `_config`)."""
    return {
        "fingerprint": run.fingerprint,
        "settings": run.settings,
        "provenance": {**provenance(), "model_input": run.model_input},
        "config": {
            "run_name": run.name,
            "dataset": splits.name,
            "model": run.settings["model"],
            "approach": spec.approach,
            "spec": spec.settings(),
            **approach,
            "pattern": spec.pattern if spec.approach != "gating" else None,
            "schedule_name": spec.schedule_name or None,
            "schedule": spec.settings()["schedule"],
            "variant": spec.variant or None,
            "gating": asdict(gates) if gates else None,
            "seed": spec.seed,
            "training": asdict(train_cfg),
            "measure": dict(measure),
            "data": {
                **run.settings["data"],
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


def failed_record(run, spec, splits, error, history, train_cfg, gates, device, config) -> RunRecord:
    """A failed run's record: `error` says why; `config`: its `approach_fields`."""
    history, timing = split_timing(history)
    identity = _identity(run, spec, splits, train_cfg, gates, {}, device, config)
    meta = run_meta(run.name, FAILED, {}, identity, error=error)
    return RunRecord(run.name, history, meta, timing={"epochs": timing})


def load_model(store: RunStore, name: str, folded: bool = False) -> nn.Module:
    """A stored run's model, rebuilt from its settings and weights (no code is unpickled).

    A pruned run is its source's model with the saved decisions applied again (they fix
    the structure); `folded` gives its folded model, the fold of that structure.
    """
    meta = store.meta(name)
    if meta is None:
        raise FileNotFoundError(f"{store.runs}/{name}/meta.json is missing or invalid")
    cfg = meta["config"]
    spec = RunSpec.from_settings(cfg["spec"])
    gates = GateConfig(**cfg["gating"]) if cfg.get("gating") else None
    data = cfg["data"]
    kind = "image" if data["kind"] == "features" else data["kind"]
    shape = tuple(data["input_shape"])
    params = for_stored_weights(cfg["model"], shape)
    model, _ = build_for(shape, data["num_classes"], params, spec, gates, kind)
    state, extra = store.weights(name)
    restore_module_state(model, extra)
    if cfg.get("approach") == "pruning":
        import pandas as pd

        from ..pruning import apply_decisions, fold_model

        decisions = pd.read_csv(io.StringIO(store.text(name, "pruning_decisions.csv")))
        apply_decisions(model, decisions, example_input(kind, shape))
        if folded:
            model = fold_model(model)
            state, _ = store.weights(name, FOLDED)
    model.load_state_dict(state)
    for g in gated_layers(model):  # a hardened gate's mask came with the weights
        g.logit.requires_grad_(not g.hardened)
    return model.eval()
