"""The GPU path, measured: CIFAR-10 ResNet-18 trained from scratch by the project's loop.

ResNet-18 with the CIFAR stem (`resnet18_head`, `stem: cifar`), `model.target=backbone`
and `--ratio` (default 0.5) of every backbone ReLU's channels linear (fixed random masks,
built by `run.train.build_for` as a fixed run is), trained by `nonlinearity.training.fit`:
images resident on the device as uint8, normalised, cropped (pad 4) and flipped per batch
on the device, channels_last (`--channels-last`) and bfloat16 autocast (`--amp`), both
on by default on CUDA, and optionally `torch.compile` (`--compile`). SGD with momentum,
weight decay and a cosine schedule (`HYP`).

Data: CIFAR-10 when its python batches (`cifar-10-batches-py/`, torchvision's format)
are in `--raw-dir` (default data/01_raw, where `--params=dataset=cifar10` reads them) or
in its `cifar10/`: the first `--images` training images, and the first `--images // 5`
test images for validation. Else (or with `--synthetic`) CIFAR-shaped synthetic uint8
data: random pixels and labels, a speed test only. Nothing is downloaded.

Reported, over the epochs after the first (which pays for cuDNN's and the compiler's
warm-up and is left out): s/epoch as the loop records it (training and its validation
pass), the validation pass timed alone, training s/epoch (the difference), images/s,
CUDA peak memory; and the device's bound: dense matmul FLOP/s (fp32 and bf16), conv
FLOP/s at the net's own conv shapes (forward and both backward convs, at the batch
size, in the run's dtype and memory format; FLOPs counted as direct convolution, so
Winograd kernels can beat the matmul rate), FLOPs per training image (3x the forward's,
by torch's FLOP counter, `measure.flops`), and bound s/epoch = FLOPs per epoch / conv
FLOP/s. Epoch figures are the median (+/- half the range) over the timed epochs.

Goal (issue): <= 3 s per epoch of 50,000 images on one H100/H200-class GPU.
Headline: not measured: no GPU has been available to this project. The CPU smoke
figures (2-core CPU, 256 images, 2 epochs) are in docs/performance.md, "The GPU path".

    python benchmarks/gpu_train.py [--device auto] [--images 50000] [--epochs 5]
        [--batch-size 512] [--amp | --no-amp] [--compile] [--channels-last | --no-channels-last]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import benchmark

from nonlinearity.data import Splits, to_device
from nonlinearity.data.sources import CIFAR10_FILES, load_cifar10_raw
from nonlinearity.measure.flops import flop_counts
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.train import build_for
from nonlinearity.training import TrainConfig, fit
from nonlinearity.training.loop import batch_inputs, evaluate_metrics, use_channels_last

REPO = Path(__file__).resolve().parents[1]
MODEL = {"name": "resnet18_head", "stem": "cifar", "target": "backbone"}
HYP = {"optimizer": "sgd", "lr": 0.2, "momentum": 0.9, "weight_decay": 5e-4, "scheduler": "cosine"}
STATS_SAMPLE = 10_000  # training images the per-channel mean and std are taken from


def cifar_root(raw_dir: Path) -> Path | None:
    """The folder holding `cifar-10-batches-py/` with all its files: raw_dir or raw_dir/cifar10."""
    for root in (raw_dir, raw_dir / "cifar10"):
        if all((root / "cifar-10-batches-py" / f).is_file() for f in CIFAR10_FILES):
            return root
    return None


def cifar_or_synthetic(n: int, root: Path | None, seed: int = 0) -> Splits:
    """`n` training and `n // 5` validation images (N, 3, 32, 32) uint8 (CIFAR-10 from
    `root`; None: synthetic), normalised by the training images' per-channel mean and
    std (of the first `STATS_SAMPLE`)."""
    n_val = max(n // 5, 1)
    if root is not None:
        raw = load_cifar10_raw(root)
        x, y = raw.x_train[:n], raw.y_train[:n]
        xv, yv = raw.x_test[:n_val], raw.y_test[:n_val]
        name, synthetic = "cifar10", False
    else:
        rng = np.random.default_rng(seed)
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        xv = rng.integers(0, 256, (n_val, 3, 32, 32), dtype=np.uint8)
        y, yv = rng.integers(0, 10, n), rng.integers(0, 10, n_val)
        name, synthetic = "cifar10-shaped synthetic", True
    x, xv = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(xv))
    sample = x[:STATS_SAMPLE].float()
    std, mean = torch.std_mean(sample, dim=(0, 2, 3))
    y, yv = torch.as_tensor(y, dtype=torch.long), torch.as_tensor(yv, dtype=torch.long)
    return Splits(
        name, x, y, xv, yv, xv[:0], yv[:0], mean.tolist(), std.clamp_min(1e-8).tolist(), 10,
        augment=True, synthetic=synthetic,
    )  # fmt: skip


def conv_shapes(model: nn.Module, example: torch.Tensor) -> Counter:
    """(in, out, kernel, stride, padding, H, W) of every Conv2d call in one forward, counted."""
    seen: Counter = Counter()

    def hook(m: nn.Conv2d, args: tuple) -> None:
        assert m.groups == 1 and m.dilation == (1, 1) and m.bias is None, m
        h, w = args[0].shape[-2:]
        seen[(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, h, w)] += 1

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if type(m) is nn.Conv2d]
    with torch.no_grad():
        model.eval()(example)
    for h in handles:
        h.remove()
    return seen


def conv_flops(shape: tuple, batch: int) -> int:
    """Forward FLOPs of one conv call: 2 x N x C_out x H_out x W_out x C_in x k_h x k_w."""
    cin, cout, (kh, kw), (sh, sw), (ph, pw), h, w = shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    return 2 * batch * cout * ho * wo * cin * kh * kw


def timed(stmt: str, env: dict, seconds: float) -> float:
    """Median seconds per call (torch.utils.benchmark: warmed up, CUDA synchronised)."""
    t = benchmark.Timer(stmt, globals=env, num_threads=torch.get_num_threads())
    return t.blocked_autorange(min_run_time=seconds).median


def conv_rate(shapes: Counter, batch: int, device, dtype, fmt, seconds: float) -> float:
    """FLOP/s of the net's convs in training: forward + grad input + grad weight (3x the
    forward's FLOPs), each shape timed at `batch` and weighted by how often the net calls it."""
    flops = secs = 0.0
    for shape, count in shapes.items():
        cin, cout, k, stride, padding, h, w = shape
        x = torch.randn(batch, cin, h, w, device=device, dtype=dtype)
        x = x.contiguous(memory_format=fmt).requires_grad_()
        wt = torch.randn(cout, cin, *k, device=device, dtype=dtype)
        wt = wt.contiguous(memory_format=fmt).requires_grad_()
        y = F.conv2d(x, wt, None, stride, padding)
        env = {"F": F, "torch": torch, "x": x, "w": wt, "g": torch.randn_like(y), "s": stride}
        env["p"] = padding
        stmt = "torch.autograd.grad(F.conv2d(x, w, None, s, p), (x, w), g)"
        secs += count * timed(stmt, env, seconds)
        flops += count * 3 * conv_flops(shape, batch)
    return flops / secs


def matmul_rate(device, dtype, seconds: float) -> float:
    """Dense square matmul FLOP/s (8192 on CUDA, 1024 on CPU)."""
    n = 8192 if device.type == "cuda" else 1024
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    return 2 * n**3 / timed("a @ b", {"a": a, "b": b}, seconds)


def spread(values: list[float]) -> tuple[float, float]:
    """Median and half the range."""
    return statistics.median(values), (max(values) - min(values)) / 2


def train(args: argparse.Namespace, device: torch.device, amp: bool) -> dict:
    """Build, train through `fit`, then time the validation pass alone as the loop ran it."""
    raw_dir = args.raw_dir if args.raw_dir.is_absolute() else REPO / args.raw_dir
    splits = cifar_or_synthetic(args.images, None if args.synthetic else cifar_root(raw_dir))
    model, _ = build_for((3, 32, 32), 10, MODEL, RunSpec("fixed", ratio=args.ratio), None)
    example = torch.zeros(1, 3, 32, 32)
    data = to_device(splits, device)
    cl = use_channels_last(model, data, args.channels_last)
    cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, eval_batch_size=1024,
        device=str(device), amp=amp, compile=args.compile, **HYP,
    )  # fmt: skip
    result = {
        "data": splits.name, "synthetic": splits.synthetic, "images": len(splits.y_train),
        "val_images": len(splits.y_val), "channels_last": cl,
        "train_flops_per_image": 3 * flop_counts(model, example)["flops_total"],
        "conv_shapes": conv_shapes(model, example),
    }  # fmt: skip
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    history = fit(model.to(device), data, cfg, seed=0, label="gpu_train", channels_last=cl)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None

    fmt = torch.channels_last if cl else torch.contiguous_format
    model.to(memory_format=fmt)
    val_times = []
    for _ in range(4):  # the first warms up
        start = time.perf_counter()
        evaluate_metrics(model, data.val, data.y_val, 1024, amp, (1,), batch_inputs(data, fmt))
        val_times.append(time.perf_counter() - start)  # it ends in a CPU-GPU sync
    model.to(memory_format=torch.contiguous_format)
    val_s = statistics.median(val_times[1:])
    epoch_s = [r["epoch_time_s"] for r in history[1:]]  # epoch 1 is warm-up
    return {
        **result, "peak_bytes": peak, "epoch_s": epoch_s, "val_pass_s": val_s,
        "train_s": [t - val_s for t in epoch_s], "val_acc": [r["val_acc"] for r in history],
    }  # fmt: skip


def bound(run: dict, batch: int, device: torch.device, amp: bool, seconds: float) -> dict:
    """Matmul and conv FLOP/s of the device, and the s/epoch the conv rate allows."""
    fmt = torch.channels_last if run["channels_last"] else torch.contiguous_format
    dtype = torch.bfloat16 if amp else torch.float32
    mm = {str(dt).split(".")[1]: matmul_rate(device, dt, seconds)
          for dt in (torch.float32, torch.bfloat16)}  # fmt: skip
    conv = conv_rate(run["conv_shapes"], batch, device, dtype, fmt, seconds)
    return {
        "matmul_flops": mm, "conv_flops": conv, "dtype": str(dtype).split(".")[1],
        "bound_s_per_epoch": run["train_flops_per_image"] * run["images"] / conv,
    }  # fmt: skip


def report(args: argparse.Namespace, device: torch.device, amp: bool, run: dict, b: dict):
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    shapes = run["conv_shapes"]
    print(
        f"\ndevice {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} "
        f"CPU threads, fp32 matmul precision {torch.get_float32_matmul_precision()}\n"
        f"data {run['data']}: {run['images']} train, {run['val_images']} val images; ResNet-18 "
        f"(CIFAR stem), backbone {args.ratio:.0%} linear; batch {args.batch_size}, amp {amp} "
        f"({b['dtype']}), channels_last {run['channels_last']}, compile {args.compile}, "
        f"cudnn.benchmark {args.cudnn_benchmark}\n"
        f"timed: epochs 2..{args.epochs} ({len(run['epoch_s'])}; epoch 1 is warm-up); last val "
        f"acc {run['val_acc'][-1]:.4f}{' (random labels)' if run['synthetic'] else ''}\n"
        f"bound: matmul fp32 {b['matmul_flops']['float32'] / 1e12:.2f} TFLOP/s, bf16 "
        f"{b['matmul_flops']['bfloat16'] / 1e12:.2f} TFLOP/s; convs at the net's shapes "
        f"({len(shapes)} kinds, {sum(shapes.values())} calls, fwd + bwd, {b['dtype']}) "
        f"{b['conv_flops'] / 1e12:.2f} TFLOP/s; {run['train_flops_per_image'] / 1e9:.2f} GFLOP "
        "per training image (3 x forward)\n"
    )
    (e, e_sp), (t, t_sp) = spread(run["epoch_s"]), spread(run["train_s"])
    rate, rate_sp = spread([run["images"] / s for s in run["train_s"]])
    peak = run["peak_bytes"]
    mem = f"{peak / 2**20:,.0f}" if peak is not None else "n/a (CPU)"
    bound_s = b["bound_s_per_epoch"]
    print(
        "| s/epoch (loop: train + val) | val pass s | train s/epoch | images/s | peak MiB "
        "| bound s/epoch | achieved / bound |\n|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {e:.3f} ± {e_sp:.3f} | {run['val_pass_s']:.3f} | {t:.3f} ± {t_sp:.3f} "
        f"| {rate:,.0f} ± {rate_sp:,.0f} | {mem} | {bound_s:.3f} | {bound_s / t:.0%} |\n"
    )
    print(
        f"images/s {rate:.1f}, train s/epoch {t:.3f} for {run['images']} images "
        "(goal: <= 3 s per epoch of 50,000 images on one H100/H200-class GPU)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="auto (cuda when there is one) | cpu | cuda")
    ap.add_argument("--images", type=int, default=50_000, help="training images per epoch")
    ap.add_argument("--epochs", type=int, default=5, help="the first is warm-up, not timed")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--ratio", type=float, default=0.5, help="linear share of backbone channels")
    ap.add_argument("--amp", action=argparse.BooleanOptionalAction, help="bf16; default: on CUDA")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument(
        "--channels-last", action=argparse.BooleanOptionalAction, help="default: on CUDA"
    )
    ap.add_argument("--raw-dir", type=Path, default=Path("data/01_raw"), help="CIFAR-10 here")
    ap.add_argument("--synthetic", action="store_true", help="synthetic data even with CIFAR-10")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its kernels")
    ap.add_argument("--bound-seconds", type=float, default=0.25, help="timed s per kernel")
    ap.add_argument("--out", default="benchmarks/results/gpu_train.json")
    args = ap.parse_args()
    if args.epochs < 2:
        ap.error("--epochs must be at least 2: the first epoch is warm-up and is not timed")
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    amp = device.type == "cuda" if args.amp is None else args.amp
    torch.backends.cudnn.benchmark = args.cudnn_benchmark

    run = train(args, device, amp)
    b = bound(run, args.batch_size, device, amp, args.bound_seconds)
    report(args, device, amp, run, b)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shapes = [[*k, n] for k, n in run.pop("conv_shapes").items()]
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "raw_dir")}
    out.write_text(
        json.dumps({**settings, "device": str(device), "amp": amp, "torch": torch.__version__,
                    **run, **b, "conv_shapes": shapes}, indent=2)
    )  # fmt: skip


if __name__ == "__main__":
    main()
