"""One fit/evaluate loop for every model and approach.

Data are whole tensors on the device, images as stored (uint8); an epoch is a
seeded `randperm` and its slices, and each batch becomes model input on the
device: normalised, then cropped and flipped (`DeviceData.augment`), all tensor ops.
On CUDA, conv models on images train in channels_last memory format (weights and
batches; NHWC is what the tensor cores' conv kernels read); `training.amp` runs
forward passes under bfloat16 autocast and `training.compile` trains a
`torch.compile`d model. Losses and accuracies accumulate on the device and are
read once per epoch. A seed fixes the init, the masks, the batch order and the
augmentation, so a rerun gives the same history (timings aside; on CPU, exactly).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DeviceData
from ..errors import NonlinearityError
from ..layers import gated_layers, layer_stats
from ..layers.budget import harden_to_budget, relu_costs
from .config import GateConfig, TrainConfig
from .regularizers import gate_penalty, temperature_at

log = logging.getLogger(__name__)
# An epoch's line is INFO when this long has passed since the run's last INFO line (slow
# epochs: every one), DEBUG otherwise (a fast sweep: one line per run, from run/train.py).
PROGRESS_EVERY_S = 10.0


class DivergedError(NonlinearityError):
    """Training produced a non-finite loss or weight: the run is not a result.

    `history` holds the phase's records up to and including the one that diverged.
    """

    history: list[dict]


def _check_finite(model: nn.Module, train_loss: float, label: str, phase: str, epoch: int) -> None:
    what = None
    if not math.isfinite(train_loss):
        what = f"non-finite training loss ({train_loss})"
    else:
        named = list(model.named_parameters())
        finite = [torch.isfinite(p).all() for _, p in named]
        ok = torch.stack(finite).tolist() if finite else []  # CPU-GPU sync point, once
        bad = [n for (n, _), good in zip(named, ok, strict=True) if not good]
        if bad:
            what = f"non-finite weights in {bad[0]} (a gradient overflowed)"
    if what:
        raise DivergedError(f"{label}: {what} at {phase} epoch {epoch}")


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()


@torch.no_grad()
def evaluate_metrics(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 4096,
    amp: bool = False,
    topk: tuple[int, ...] = (1,),
    inputs: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """`loss`, `acc` (and `top5` when 5 is in topk) over (x, y), in chunks, in eval mode.

    `inputs` turns each chunk of `x` into model input (`DeviceData.inputs`: stored
    uint8 images normalised a chunk at a time); None: `x` is model input already.
    """
    was_training = model.training
    model.eval()
    loss = torch.zeros((), device=x.device)
    correct = torch.zeros(len(topk), device=x.device, dtype=torch.long)
    kmax = max(topk)
    for i in range(0, len(y), batch_size):
        xb = x[i : i + batch_size]
        with _autocast(x.device, amp):
            out = model(xb if inputs is None else inputs(xb))
        yb = y[i : i + batch_size]
        loss += F.cross_entropy(out.float(), yb, reduction="sum")
        hits = out.topk(min(kmax, out.shape[1]), dim=1).indices == yb[:, None]
        correct += torch.stack([hits[:, :k].any(1).sum() for k in topk])
    model.train(was_training)
    n = max(len(y), 1)
    counts = correct.tolist()  # CPU-GPU sync point
    out = {"loss": loss.item() / n, "acc": counts[0] / n}
    out.update({f"top{k}": c / n for k, c in zip(topk[1:], counts[1:], strict=True)})
    return out


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 4096,
    amp: bool = False,
    inputs: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over (x, y), in chunks, in eval mode."""
    m = evaluate_metrics(model, x, y, batch_size, amp, inputs=inputs)
    return m["loss"], m["acc"]


def _optimizer(model: nn.Module, cfg: TrainConfig, gate_lr: float | None) -> torch.optim.Optimizer:
    gate_params = [p for g in gated_layers(model) for p in g.parameters(recurse=False)]
    gate_ids = {id(p) for p in gate_params}
    groups = [
        {"params": [p for p in model.parameters() if id(p) not in gate_ids and p.requires_grad]}
    ]
    live_gates = [p for p in gate_params if p.requires_grad]
    if live_gates:
        groups.append({"params": live_gates, "lr": gate_lr or cfg.lr, "weight_decay": 0.0})
    # foreach: each update operator is called once for all tensors (a multi-tensor kernel on
    # CUDA, a C++ loop on CPU) instead of once per tensor from Python, torch's CPU default;
    # the same arithmetic, bit for bit (tests/training/test_loop.py).
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=True
        )
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def use_channels_last(model: nn.Module, data: DeviceData, wanted: bool | None = None) -> bool:
    """Whether `fit` trains in channels_last: image batches (N, C, H, W) into a model with
    a 2-D convolution, and `wanted` (None: on CUDA only, so CPU results stay as they were)."""
    if wanted is None:
        wanted = data.device.type == "cuda"
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    return bool(wanted) and data.train.dim() == 4 and has_conv


def batch_inputs(
    data: DeviceData, memory_format: torch.memory_format = torch.contiguous_format
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A slice of a stored split -> model input in `memory_format` (set on the uint8
    slice, a quarter of the bytes; normalising keeps it)."""

    def inputs(x: torch.Tensor) -> torch.Tensor:
        return data.inputs(x.contiguous(memory_format=memory_format))

    return inputs


@contextmanager
def _weights_in(model: nn.Module, memory_format: torch.memory_format):
    """The model's 4-D weights in `memory_format` inside, contiguous again after."""
    if memory_format == torch.contiguous_format:
        yield memory_format
        return
    model.to(memory_format=memory_format)  # in place: the same Parameters, new strides
    try:
        yield memory_format
    finally:
        model.to(memory_format=torch.contiguous_format)


def fit(
    model: nn.Module,
    data: DeviceData,
    cfg: TrainConfig,
    seed: int,
    gates: GateConfig | None = None,
    epochs: int | None = None,
    first_epoch: int = 1,
    phase: str = "train",
    label: str = "",
    on_epoch: Callable[[dict, Callable[[], dict]], None] | None = None,
    resume: dict | None = None,
    channels_last: bool | None = None,
) -> list[dict]:
    """Train in place; returns one record per epoch (see docs/metrics.md).

    `channels_last`: train a conv model on images in channels_last memory format
    (`use_channels_last`; None: on CUDA only); the model is then handed back in the
    contiguous format (the one safetensors stores).

    `on_epoch(record, state)` is called after each epoch; `state()` gives what
    `resume` takes to continue after that epoch exactly as if never stopped: the
    optimiser, scheduler, batch-order generator and global RNG states and the records
    so far (the model's weights are the caller's to save and restore). A non-finite
    loss or weight raises `DivergedError` naming the run, phase and epoch.
    """
    epochs = cfg.epochs if epochs is None else epochs
    nhwc = use_channels_last(model, data, channels_last)
    with _weights_in(model, torch.channels_last if nhwc else torch.contiguous_format) as fmt:
        return _fit(
            model, data, cfg, seed, gates, epochs, first_epoch, phase, label, on_epoch, resume, fmt
        )


def _fit(
    model: nn.Module,
    data: DeviceData,
    cfg: TrainConfig,
    seed: int,
    gates: GateConfig | None,
    epochs: int,
    first_epoch: int,
    phase: str,
    label: str,
    on_epoch: Callable[[dict, Callable[[], dict]], None] | None,
    resume: dict | None,
    memory_format: torch.memory_format,
) -> list[dict]:
    """`fit`'s epochs, with batches made in `memory_format`."""
    device = data.device
    inputs = batch_inputs(data, memory_format)
    last_line = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    gate_modules = gated_layers(model)
    opt = _optimizer(model, cfg, gates.gate_lr if gates else None)
    n, bs = len(data.y_train), cfg.batch_size
    steps = epochs * ((n + bs - 1) // bs)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        if cfg.scheduler == "cosine"
        else None
    )
    history: list[dict] = []
    if resume is not None:
        opt.load_state_dict(resume["optimizer"])
        if sched is not None:
            sched.load_state_dict(resume["scheduler"])
        gen.set_state(resume["generator"])
        torch.set_rng_state(resume["rng"])
        if resume.get("cuda_rng") is not None:  # dropout on the GPU draws from this one
            torch.cuda.set_rng_state(resume["cuda_rng"], device)
        history = list(resume["history"])

    def state() -> dict:
        return {
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None,
            "generator": gen.get_state(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "history": list(history),
        }

    step_model = torch.compile(model) if cfg.compile else model
    for epoch in range(first_epoch + len(history), first_epoch + epochs):
        start = time.perf_counter()
        if gates:
            for g in gate_modules:
                g.temperature = temperature_at(epoch - first_epoch + 1, epochs, gates)
        lr = opt.param_groups[0]["lr"]
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for idx in torch.randperm(n, device=device, generator=gen).split(bs):
            xb, yb = inputs(data.train[idx]), data.y_train[idx]  # uint8 -> float, here only
            if data.augment is not None:
                xb = data.augment(xb, gen)
            with _autocast(device, cfg.amp):
                out = step_model(xb)
                loss = F.cross_entropy(out.float(), yb)
            total = loss
            if gates:
                penalty = gate_penalty(gate_modules, gates)
                if penalty is not None:
                    total = loss + penalty
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if sched:
                sched.step()
            loss_sum += loss.detach() * len(idx)
            correct += (out.argmax(1) == yb).sum()
        val = evaluate_metrics(
            model, data.val, data.y_val, cfg.eval_batch_size, cfg.amp, data.topk, inputs
        )
        val_loss, val_acc = val["loss"], val["acc"]
        record = {
            "epoch": epoch,
            "phase": phase,
            "train_loss": loss_sum.item() / n,  # CPU-GPU sync point, once per epoch
            "train_acc": correct.item() / n,
            "val_loss": val_loss,
            "val_acc": val_acc,
            **{f"val_{k}": v for k, v in val.items() if k.startswith("top")},
            "lr": lr,
            "epoch_time_s": time.perf_counter() - start,
            "gating": layer_stats(model),
        }
        if gates:
            record["temperature"] = gate_modules[0].temperature if gate_modules else None
        history.append(record)
        try:
            _check_finite(model, record["train_loss"], label, phase, epoch)
        except DivergedError as exc:
            exc.history = history
            raise
        slow = time.perf_counter() - last_line >= PROGRESS_EVERY_S
        last_line = time.perf_counter() if slow else last_line
        log.log(
            logging.INFO if slow else logging.DEBUG,
            "%s %s epoch %d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  %.2fs",
            label,
            phase,
            epoch,
            first_epoch + epochs - 1,
            record["train_loss"],
            record["train_acc"],
            val_loss,
            val_acc,
            record["epoch_time_s"],
        )
        if on_epoch:
            on_epoch(record, state)
    return history


def harden(
    model: nn.Module, data: DeviceData, cfg: TrainConfig, gates: GateConfig, label: str = ""
) -> dict:
    """Turn every gate into a fixed mask; returns the `"epoch": "hardened"` record.

    By `relu_budget` (exactly that many ReLUs per sample, `layers.budget`), else per
    layer by `harden_budget` (top-k share) or `harden_threshold`. The record's
    `relu_count` is the model's ReLU count per sample after hardening.
    """
    costs = relu_costs(model, data.inputs(data.train[:1]))
    if gates.relu_budget is not None:
        harden_to_budget(costs, gates.relu_budget)
    else:
        share = gates.harden_budget
        for g in gated_layers(model):
            k = None if share is None else round(share * g.num_features)
            g.harden(gates.harden_threshold, k)
    train_loss, train_acc = evaluate(
        model, data.train, data.y_train, cfg.eval_batch_size, cfg.amp, data.inputs
    )
    val = evaluate_metrics(
        model, data.val, data.y_val, cfg.eval_batch_size, cfg.amp, data.topk, data.inputs
    )
    val_loss, val_acc = val["loss"], val["acc"]
    stats = layer_stats(model)
    linear = sum(s["num_features"] * (1 - s["alpha_mean"]) for s in stats)
    total = sum(s["num_features"] for s in stats)
    log.info("%s hardened  val_acc %.4f  linear share %.3f", label, val_acc, linear / max(total, 1))
    return {
        "epoch": "hardened",
        "phase": "hardened",
        "train_loss": train_loss,
        "train_acc": train_acc,
        "val_loss": val_loss,
        "val_acc": val_acc,
        **{f"val_{k}": v for k, v in val.items() if k.startswith("top")},
        "linear_ratio": linear / max(total, 1),
        "relu_count": costs.count(),
        **({"relu_budget": gates.relu_budget} if gates.relu_budget is not None else {}),
        "gating": stats,
    }
