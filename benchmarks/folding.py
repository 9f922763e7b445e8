"""Inference latency of unfolded vs folded MLPs: what exact folding of linear neurons buys.

MNIST-shaped MLP 784-512-512-512-10 with random weights (latency does not depend on
training). Each case linearises neurons with `MixedActivation` masks (random pattern),
then `nonlinearity.pruning.fold_mlp` folds them. Rows: the linear share per layer,
multiply-adds per sample, nonlinear units, and p50 forward latency (eval, no_grad) at
batch 1 and 256 for the unfolded and the folded model, with the speed-up. The two
models of a case are timed in turns (`--rounds` interleaved rounds, median of the
per-round p50s), so machine drift hits both alike. Folded outputs are checked against
the unfolded ones before timing (max |diff| over max |logit| below 1e-4).

    python benchmarks/folding.py [--rounds 5] [--min-run-time 0.2] [--device cpu]
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
from nonlinearity.measure.efficiency import latency, nonlinear_units
from nonlinearity.models import MLPConfig, build_mlp
from nonlinearity.pruning import fold_check, fold_mlp, linear_macs

HIDDEN = [512, 512, 512]
CASES = {  # name -> linear share of layers 0, 1, 2
    "0% (all ReLU)": (0.0, 0.0, 0.0),
    "50% all layers": (0.5, 0.5, 0.5),
    "75% all layers": (0.75, 0.75, 0.75),
    "100% all layers": (1.0, 1.0, 1.0),
    "50% layer 1": (0.0, 0.5, 0.0),
    "100% layer 1": (0.0, 1.0, 0.0),
    "100% layers 1-2": (0.0, 1.0, 1.0),
}
BATCHES = (1, 256)


def build(ratios: tuple[float, ...], device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(784, 10, HIDDEN))
    apply_approach(
        model, Approach("layerwise", schedule=dict(enumerate(ratios))), torch.zeros(2, 784)
    )
    return model.to(device).eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-run-time", type=float, default=0.2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "folding.json")
    args = ap.parse_args()
    device = resolve_device(args.device)
    rows = []
    with torch.no_grad():
        for name, ratios in CASES.items():
            model = build(ratios, device)
            folded = fold_mlp(model)
            check = fold_check(model, folded, torch.randn(1024, 784, device=device), 256)
            assert check["exact"], (name, check)
            x2 = torch.zeros(2, 784, device=device)
            row = {
                "case": name,
                "ratios": ratios,
                "macs": linear_macs(model),
                "macs_folded": linear_macs(folded),
                "nonlinear_units": nonlinear_units(model, x2)["nonlinear_units"],
                "nonlinear_units_folded": nonlinear_units(folded, x2)["nonlinear_units"],
                "linear_layers": sum(isinstance(m, torch.nn.Linear) for m in model.modules()),
                "linear_layers_folded": len(folded.nodes),
                "max_rel_diff": check["max_rel_diff"],
            }
            for bs in BATCHES:
                x = torch.randn(bs, 784, device=device)
                times = {"unfolded": [], "folded": []}
                for _ in range(args.rounds):
                    for key, m in (("unfolded", model), ("folded", folded)):
                        times[key].append(latency(m, x, args.min_run_time)["p50_latency_s"])
                t0, t1 = statistics.median(times["unfolded"]), statistics.median(times["folded"])
                row[f"p50_ms_b{bs}"] = 1e3 * t0
                row[f"p50_ms_b{bs}_folded"] = 1e3 * t1
                row[f"speedup_b{bs}"] = t0 / t1
            rows.append(row)
            print(
                f"{name:16s} MACs {row['macs']:>7d} -> {row['macs_folded']:>7d}  "
                f"nonlinear {row['nonlinear_units']:>4d} -> {row['nonlinear_units_folded']:>4d}  "
                + "  ".join(
                    f"b{bs}: {row[f'p50_ms_b{bs}']:.3f} -> {row[f'p50_ms_b{bs}_folded']:.3f} ms "
                    f"({row[f'speedup_b{bs}']:.2f}x)"
                    for bs in BATCHES
                ),
                flush=True,
            )
    env = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"env": env, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
