"""Inference latency of unfolded vs folded models: what exact folding of linear neurons buys.

MLP cases: MNIST-shaped MLP 784-512-512-512-10 with random weights (latency does not
depend on training), batches of 1 and 256. Transformer cases (`--minilm`, needs the
`minilm` extra): the pretrained MiniLM-L6 sequence classifier with a share of each FFN's
units linear, batches of 1 and 32 sequences of 24 tokens. Each case linearises neurons
with `MixedActivation` masks (random pattern), then `nonlinearity.pruning.fold_model`
folds them. Rows: multiply-adds per sample (Linear layers), nonlinear units, and p50
forward latency (eval, no_grad) of the unfolded and the folded model, with the
speed-up. The two models of a case are timed the benchmark pipeline's way
(`nonlinearity.measure.interleaved_rounds`: `--rounds` rounds that take turns, blocks of
about `--block-s`), and the speed-up is unfolded / folded time over paired rounds with
its 95 % interval (`reporting.stats.ratio_interval`); "faster" or "slower" only when the
interval excludes 1. Folded outputs are checked against the unfolded ones before timing
(max |diff| over max |logit| <= 1e-4).

    python benchmarks/folding.py [--rounds 10] [--block-s 0.02] [--device cpu] [--minilm]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

from nonlinearity.device import resolve_device
from nonlinearity.layers import Approach, apply_approach
from nonlinearity.measure import interleaved_rounds, nonlinear_units
from nonlinearity.models import MLPConfig, build_mlp, build_model
from nonlinearity.pruning import fold_check, fold_model, linear_macs
from nonlinearity.reporting import stats

HIDDEN = [512, 512, 512]
MLP_CASES = {  # name -> linear share of layers 0, 1, 2
    "0% (all ReLU)": (0.0, 0.0, 0.0),
    "50% all layers": (0.5, 0.5, 0.5),
    "75% all layers": (0.75, 0.75, 0.75),
    "100% all layers": (1.0, 1.0, 1.0),
    "50% layer 1": (0.0, 0.5, 0.0),
    "100% layer 1": (0.0, 1.0, 0.0),
    "100% layers 1-2": (0.0, 1.0, 1.0),
}
FFN_CASES = {"MiniLM FFN 0%": 0.0, "MiniLM FFN 50%": 0.5, "MiniLM FFN 100%": 1.0}
TOKENS = 24


def mlp_case(ratios: tuple[float, ...], device: torch.device):
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(784, 10, HIDDEN))
    apply_approach(
        model, Approach("layerwise", schedule=dict(enumerate(ratios))), torch.zeros(2, 784)
    )
    return model.to(device).eval(), lambda bs: torch.randn(bs, 784, device=device), (1, 256)


def ffn_case(ratio: float, device: torch.device):
    model = build_model({"name": "transformer", "checkpoint": "minilm"}, (TOKENS,), 2, "text")
    ids = torch.randint(1000, 20000, (2, TOKENS))
    apply_approach(model, Approach("fixed", ratio=ratio, target="*intermediate*"), ids)
    return (
        model.to(device).eval(),
        lambda bs: torch.randint(1000, 20000, (bs, TOKENS), device=device),
        (1, 32),
    )


def measure(name, model, make_input, batches, args) -> dict:
    folded = fold_model(model)
    check = fold_check(model, folded, make_input(256), 64)
    assert check["exact"], (name, check)
    x2 = make_input(2)
    row = {
        "case": name,
        "macs": linear_macs(model),
        "macs_folded": linear_macs(folded),
        "nonlinear_units": nonlinear_units(model, x2)["nonlinear_units"],
        "nonlinear_units_folded": nonlinear_units(folded, x2)["nonlinear_units"],
        "linear_layers": sum(isinstance(m, torch.nn.Linear) for m in model.modules()),
        "linear_layers_folded": sum(isinstance(m, torch.nn.Linear) for m in folded.modules()),
        "max_rel_diff": check["max_rel_diff"],
        "batches": list(batches),
    }
    for bs in batches:
        r = interleaved_rounds(
            {"unfolded": model, "folded": folded}, make_input(bs), args.rounds, args.block_s
        )
        t0, t1 = r.seconds["unfolded"], r.seconds["folded"]
        speedup = stats.ratio_interval(t0, t1)  # unfolded / folded, paired by round
        row[f"p50_ms_b{bs}"] = 1e3 * statistics.median(t0)
        row[f"p50_ms_b{bs}_folded"] = 1e3 * statistics.median(t1)
        row[f"speedup_b{bs}"] = speedup.ratio
        row[f"speedup_b{bs}_interval"] = [speedup.low, speedup.high]
        row[f"verdict_b{bs}"] = stats.speed_verdict(stats.ratio_interval(t1, t0))
    print(
        f"{name:16s} MACs {row['macs']:>9d} -> {row['macs_folded']:>9d}  "
        f"nonlinear {row['nonlinear_units']:>5d} -> {row['nonlinear_units_folded']:>5d}  "
        + "  ".join(
            f"b{bs}: {row[f'p50_ms_b{bs}']:.3f} -> {row[f'p50_ms_b{bs}_folded']:.3f} ms "
            f"({row[f'speedup_b{bs}']:.2f}x, {row[f'speedup_b{bs}_interval'][0]:.2f}-"
            f"{row[f'speedup_b{bs}_interval'][1]:.2f}: folded {row[f'verdict_b{bs}']})"
            for bs in batches
        ),
        flush=True,
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--block-s", type=float, default=0.02, help="s per model per round")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--minilm", action="store_true", help="also the MiniLM-L6 FFN cases")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "folding.json")
    args = ap.parse_args()
    device = resolve_device(args.device)
    rows = []
    with torch.no_grad():
        for name, ratios in MLP_CASES.items():
            rows.append(measure(name, *mlp_case(ratios, device), args))
        if args.minilm:
            for name, ratio in FFN_CASES.items():
                rows.append(measure(name, *ffn_case(ratio, device), args))
    env = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "block_s": args.block_s,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"env": env, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
