"""Training throughput of the project's loop against a plain PyTorch loop, and its GEMM bound.

MNIST-shaped synthetic data (uint8, 1 x 28 x 28, random labels), MLP 784-512-512-512-10,
Adam (lr 1e-3), batch 128 and 512. A timed pass trains one epoch on `--samples` samples and
then evaluates `--val-samples` (1,000) validation samples, as `fit` does each epoch. Rows:

  plain          the same model, optimiser (Adam, foreach: as `fit` builds it) and data in a
                 dozen lines of PyTorch: `randperm` slices of the normalised float inputs,
                 then one validation pass under `no_grad`
  plain, torch's default Adam   the same with `torch.optim.Adam`'s defaults (on CPU the
                 per-tensor for-loop implementation)
  project        `nonlinearity.training.fit`, one epoch: ReLU, mixed (50 % linear), gated
                 (L1 0.5 + entropy 0.01); per-batch normalising of the uint8 images, loss
                 and accuracy bookkeeping, gate regularisers, per-epoch statistics included
  torchvision    (`--torchvision`) torchvision's MNIST class on the same data as IDX files,
                 ToTensor + Normalize per PIL image, DataLoader with 0 and 2 workers
  bound          GEMM bound: batch / the sum over the model's Linear layers of the best time
                 of each GEMM a training step runs there (`measure.speed.training_gemms`:
                 forward x @ W.T, grad input g @ W except for the first layer, grad weight
                 g.T @ x), at the layer's own shapes, timed after warm-up in every round

Method: every case is warmed up by one pass, then timed once per round for `--rounds`
rounds; the order rotates by one case each round, so drift of the machine hits all cases
alike. A row's rate is the median over rounds (and the range); its ratio to plain is paired
by round: the median of the rounds' ratios and the 95 % t interval of their geometric mean
(`reporting.stats.ratio_interval`). The bound is the best GEMM times over all rounds; a row
whose best round beats it means the bound is wrong: the script says so and exits 1 without
a table. On CUDA, passes are timed with CUDA events (then synchronised); `--bf16` trains
under bfloat16 autocast and times the GEMMs in bfloat16. On a shared CPU, `--threads 1
--clock cpu` times each pass and GEMM by the thread's CPU time, which other processes'
load does not inflate (their cache pollution still counts).

Headline (2026-11-24, shared 2-core AMD EPYC, 1 thread, CPU clock, 5 rounds of 10,000
samples): the project loop at 0.98 (ReLU), 0.94 / 0.97 (mixed) and 0.85 / 0.91 (gated) of
the plain loop at batch 128 / 512; the plain loop at 53 % / 73 % of the GEMM bound.
Table, machine, command and profile: docs/performance.md.

    python benchmarks/train_throughput.py [--samples 20000] [--rounds 7] [--device auto]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nonlinearity.data import RawData, make_splits, to_device
from nonlinearity.layers import Approach, apply_approach
from nonlinearity.measure.speed import gemm_seconds, training_gemms
from nonlinearity.models import MLPConfig, build_mlp
from nonlinearity.reporting.stats import ratio_interval
from nonlinearity.training import GateConfig, TrainConfig, fit

HIDDEN = [512, 512, 512]
LABELS = {
    "plain": "plain loop (Adam foreach, as fit)",
    "plain-default-adam": "plain loop, torch's default Adam",
    "relu": "project loop, ReLU",
    "mixed": "project loop, mixed 50 %",
    "gated": "project loop, gated (l1 + entropy)",
    "torchvision-0": "torchvision DataLoader, 0 workers",
    "torchvision-2": "torchvision DataLoader, 2 workers",
}
# Issue 18: the project loop's share of the plain loop's speed, per batch size.
TARGETS = {
    128: {"relu": 0.97, "mixed": 0.95, "gated": 0.90},
    512: {"relu": 0.95, "mixed": 0.95, "gated": 0.95},
}


# --clock: wall time, or this thread's CPU time (with --threads 1)
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def timed(fn: Callable[[], None], device: torch.device, clock=time.perf_counter) -> float:
    """Seconds of one call: CUDA events around it on a GPU, `clock` on a CPU."""
    if device.type != "cuda":
        start = clock()
        fn()
        return clock() - start
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(device)
    begin.record()
    fn()
    end.record()
    end.synchronize()
    return begin.elapsed_time(end) / 1000


def autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


def mlp(device: torch.device, approach: Approach | None = None) -> nn.Module:
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(784, 10, HIDDEN))
    if approach is not None:
        apply_approach(model, approach, torch.zeros(2, 1, 28, 28))
    return model.to(device)


def plain_pass(data, bs: int, device: torch.device, bf16: bool, foreach: bool | None):
    """A fresh model and Adam; the returned pass trains one epoch, then evaluates val."""
    x, y, xv, yv = data.x_train, data.y_train, data.x_val, data.y_val  # float, normalised once
    model = mlp(device)
    opt = torch.optim.Adam(model.parameters(), 1e-3, foreach=foreach)

    def run() -> None:
        model.train()
        for idx in torch.randperm(len(y), device=device).split(bs):
            with autocast(device, bf16):
                loss = F.cross_entropy(model(x[idx]).float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad(), autocast(device, bf16):
            out = model(xv).float()
        return F.cross_entropy(out, yv).item(), (out.argmax(1) == yv).float().mean().item()

    return run


def project_pass(splits, bs, device, bf16, approach: Approach | None, gates: GateConfig | None):
    data = to_device(splits, device)
    model = mlp(device, approach)
    cfg = TrainConfig(epochs=1, batch_size=bs, scheduler="none", device=str(device), amp=bf16)
    return lambda: fit(model, data, cfg, seed=0, gates=gates)  # an epoch and its val pass


def write_idx(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """torchvision's MNIST files: IDX, big-endian header, uint8 payload."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", len(labels)), ("t10k", 1)):
        im, lb = (images, labels) if split == "train" else (images[:1], labels[:1])
        (folder / f"{split}-images-idx3-ubyte").write_bytes(
            struct.pack(">BBBB3I", 0, 0, 8, 3, n, 28, 28) + im.tobytes()
        )
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(
            struct.pack(">BBBBI", 0, 0, 8, 1, n) + lb.astype(np.uint8).tobytes()
        )


def torchvision_pass(root: str, bs: int, workers: int, device: torch.device, bf16: bool):
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(root, train=True, transform=tf)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=bs, shuffle=True, num_workers=workers, pin_memory=device.type == "cuda"
    )
    model = mlp(device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def run() -> None:
        for xb, yb in loader:
            with autocast(device, bf16):
                out = model(xb.to(device, non_blocking=True)).float()
            loss = F.cross_entropy(out, yb.to(device, non_blocking=True))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def machine(device: torch.device) -> str:
    """CPU model and threads, and the GPU if one is used or present."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                 if ln.startswith("model name")]  # fmt: skip
        cpu = f"{len(names)} x {names[0]}" if names else cpu
    text = f"CPU {cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    if device.type == "cuda":
        return f"{text}; GPU {torch.cuda.get_device_name(device)}"
    if torch.cuda.is_available():
        return f"{text}; GPU {torch.cuda.get_device_name()} present, not used (--device cpu)"
    return f"{text}; no GPU: GPU figures not measured"


def measure(args, device: torch.device, splits, data, idx_root: str, bs: int) -> dict:
    """Warm-up pass of each case, then `args.rounds` rounds in rotating order, the GEMMs of
    one training step timed in each round too."""
    mixed, gated = Approach("fixed", ratio=0.5), Approach("gating", init_alpha=0.9)
    makers = {
        "plain": lambda: plain_pass(data, bs, device, args.bf16, True),
        "plain-default-adam": lambda: plain_pass(data, bs, device, args.bf16, None),
        "relu": lambda: project_pass(splits, bs, device, args.bf16, None, None),
        "mixed": lambda: project_pass(splits, bs, device, args.bf16, mixed, None),
        "gated": lambda: project_pass(
            splits, bs, device, args.bf16, gated, GateConfig(l1=0.5, entropy=0.01)
        ),
    }
    if args.torchvision:
        for w in (0, 2):
            makers[f"torchvision-{w}"] = lambda w=w: torchvision_pass(
                idx_root, bs, w, device, args.bf16
            )
    example = data.x_train[:bs]
    gemms = training_gemms(mlp(device), example)
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    gemm_s: list[list[float]] = [[] for _ in gemms]
    clock = CLOCKS[args.clock]
    for make in makers.values():  # warm-up: allocator, oneDNN / cuBLAS plans, lazy init
        timed(make(), device, clock)
    seconds: dict[str, list[float]] = {k: [] for k in makers}
    order = list(makers)
    for r in range(args.rounds):
        for key in order[r % len(order) :] + order[: r % len(order)]:
            seconds[key].append(timed(makers[key](), device, clock))
        new = gemm_seconds(gemms, device, dtype, args.gemm_repeats, timer=clock)
        for times, t in zip(gemm_s, new, strict=True):
            times.extend(t)
    n = args.samples
    if args.profile:
        for key in ("plain", "relu", "mixed", "gated"):
            print(f"profile, {LABELS[key]}, batch {bs} (self time, one pass):")
            print(*profile(makers[key], device, args.profile), sep="\n")
    return {
        "batch": bs,
        "seconds": seconds,
        "rates": {k: [n / t for t in s] for k, s in seconds.items()},
        "gemms": [{**vars(g), "seconds": t} for g, t in zip(gemms, gemm_s, strict=True)],
        "bound": bs / sum(min(t) for t in gemm_s),
        "bound_median": bs / sum(statistics.median(t) for t in gemm_s),
        "gemm_flops": sum(g.flops for g in gemms) / sum(min(t) for t in gemm_s),
    }


def profile(make: Callable[[], Callable[[], object]], device: torch.device, top: int) -> list[str]:
    """`torch.profiler` over one pass (after a warm-up pass): the `top` operators by self
    time, with their share of the pass and calls per pass."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    timed(make(), device)
    run = make()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=acts) as prof:
        run()
    events = prof.key_averages()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    total = sum(getattr(e, key) for e in events)
    ranked = sorted(events, key=lambda e: -getattr(e, key))[:top]
    return [
        f"  {getattr(e, key) / total:6.1%}  {getattr(e, key) / 1e3:9.1f} ms  {e.count:7d} calls  "
        f"{e.key}"
        for e in ranked
    ]


def over_bound(result: dict) -> list[str]:
    """One line per row whose best round is faster than the GEMM bound."""
    return [
        f"{LABELS[k]} at batch {result['batch']} ran at {max(r):,.0f} samples/s in its best "
        f"round, {max(r) / result['bound']:.0%} of the GEMM bound ({result['bound']:,.0f})"
        for k, r in result["rates"].items()
        if max(r) > result["bound"]
    ]


def table(results: list[dict]) -> list[str]:
    lines = [
        "| method | batch | samples/s: median (range) | vs plain: median (95 % CI) | vs bound |",
        "|---|---:|---:|---:|---:|",
    ]
    for res in results:
        plain = res["seconds"]["plain"]
        for k, rates in res["rates"].items():
            ci = ratio_interval(plain, res["seconds"][k])  # t_plain / t_case: a speed ratio
            med = statistics.median(p / t for p, t in zip(plain, res["seconds"][k], strict=True))
            band = "" if ci.low is None else f" ({ci.low:.2f}-{ci.high:.2f})"
            lines.append(
                f"| {LABELS[k]} | {res['batch']} | {statistics.median(rates):,.0f} "
                f"({min(rates):,.0f}-{max(rates):,.0f}) | {med:.3f}{band} "
                f"| {statistics.median(rates) / res['bound']:.0%} |"
            )
        lines.append(
            f"| GEMM bound (best; at the median GEMM times) | {res['batch']} "
            f"| {res['bound']:,.0f} ({res['bound_median']:,.0f}) | | 100% |"
        )
    return lines


def verdicts(results: list[dict]) -> list[str]:
    """The targets of TARGETS against each row's median paired ratio."""
    out = []
    for res in results:
        for k, want in TARGETS.get(res["batch"], {}).items():
            plain, case = res["seconds"]["plain"], res["seconds"][k]
            med = statistics.median(p / t for p, t in zip(plain, case, strict=True))
            verdict = "met" if med >= want else "NOT met"
            out.append(f"batch {res['batch']}, {LABELS[k]}: {med:.3f} >= {want}: {verdict}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=20000, help="training samples per pass")
    ap.add_argument("--val-samples", type=int, default=1000, help="evaluated after each pass")
    ap.add_argument("--rounds", type=int, default=7, help="timed passes of each case")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    ap.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="wall time, or this thread's CPU time (--threads 1: other processes' load on a "
        "shared machine does not count; page faults and cache misses do)",
    )
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GEMMs in bf16)")
    ap.add_argument("--gemm-repeats", type=int, default=5, help="timed blocks per GEMM a round")
    ap.add_argument("--profile", type=int, default=0, help="print each loop's top N operators")
    ap.add_argument("--torchvision", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument(
        "--bound-scale", type=float, default=1.0, help="scale the measured bound (to try the check)"
    )
    ap.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "cpu" and (torch.get_num_threads() != 1 or args.device.startswith("cuda")):
        ap.error("--clock cpu times one CPU thread: give --threads 1 and a CPU device")
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    started = datetime.datetime.now(datetime.UTC)

    rng = np.random.default_rng(0)
    n = args.samples
    val = args.val_samples
    images = rng.integers(0, 256, (n + val, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n + val)
    raw = RawData(
        "mnist-shaped", images[:, None], labels, images[:10, None], labels[:10], 10, 255.0
    )
    splits = make_splits(raw, val_fraction=val / (n + val), test_fraction=0.5, seed=0)
    data = to_device(splits, device)
    tmp = tempfile.TemporaryDirectory()
    if args.torchvision:
        write_idx(Path(tmp.name) / "MNIST" / "raw", images[:n], labels[:n])

    results = []
    for bs in args.batch_sizes:
        res = measure(args, device, splits, data, tmp.name, bs)
        res["bound"] *= args.bound_scale  # < 1: a bound too low, to check the check
        results.append(res)
        for k, r in res["rates"].items():
            print(f"{LABELS[k]:42s} batch {bs:4d}: {statistics.median(r):10,.0f} samples/s")
    command = "python benchmarks/train_throughput.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    print(f"\n{started:%Y-%m-%d %H:%M} UTC, {machine(device)}\n{command}")
    print(f"{n} training + {val} val samples per pass, {args.rounds} rounds, {args.clock} clock")
    wrong = [line for res in results for line in over_bound(res)]
    if wrong:
        print(
            "the GEMM bound is wrong, a measured row beat it:\n  " + "\n  ".join(wrong),
            file=sys.stderr,
        )
        return 1
    for res in results:
        print(
            f"batch {res['batch']}: GEMMs at {res['gemm_flops'] / 1e9:.1f} GFLOP/s (best), "
            f"bound {res['bound']:,.0f} samples/s ({res['bound_median']:,.0f} at the median)"
        )
    print("", *table(results), "", *verdicts(results), sep="\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"date": f"{started:%Y-%m-%d %H:%M} UTC", "machine": machine(device)}
    meta |= {"command": command, "device": str(device), "threads": torch.get_num_threads()}
    out.write_text(json.dumps({**meta, **vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
