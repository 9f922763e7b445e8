"""The report's tables: efficiency ranking (interleaved latency) and the cross-domain table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import compare, stats

RATIOS = (0.25, 0.5, 0.75)


def efficiency_ranking(latency: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Configurations by mean test accuracy per ms of interleaved p50 latency at the
    largest batch size benchmarked, best first, per setting; with the time ratio to
    all-ReLU, its interval and verdict. Empty when latency was not measured."""
    cols = ["setting", "rank", "label", "test_acc", "acc_low", "acc_high", "seeds"]
    cols += ["batch_size", "p50_ms"]
    cols += ["ratio_mean", "ratio_low", "ratio_high", "verdict", "acc_per_ms"]
    if latency.empty:
        return pd.DataFrame(columns=cols)
    acc = compare.seed_table(summary, "test_acc").set_index(["setting", "label"])
    top = latency.groupby("setting").batch_size.transform("max")
    df = latency[latency.batch_size == top].copy()
    base_label = df.label.str.removesuffix(" (folded)")
    keys = list(zip(df.setting, base_label, strict=True))
    df["test_acc"] = [acc["mean"].get(k) for k in keys]
    df["acc_low"] = [acc["low"].get(k) for k in keys]
    df["acc_high"] = [acc["high"].get(k) for k in keys]
    df["seeds"] = [acc["n"].get(k) for k in keys]
    df["acc_per_ms"] = df.test_acc / df.p50_ms
    df = df.sort_values(["setting", "acc_per_ms"], ascending=[True, False])
    df["rank"] = df.groupby("setting").cumcount() + 1
    return df[cols].reset_index(drop=True)


def cross_architecture(summary: pd.DataFrame, drops: pd.DataFrame) -> pd.DataFrame:
    """Guide §6 Q2, per data set and model: the paired test-accuracy drop at 25/50/75 %
    linear (fixed, random pattern) with its 95 % interval over seeds, the gated runs'
    effective linear share and paired drop, and the test-set resolution."""
    rows = []
    for (dataset, model, setting), g in summary.groupby(["dataset", "model", "setting"]):
        d = drops[drops.setting == setting] if len(drops) else drops
        base = g[compare.is_baseline(g)].test_acc
        biv = stats.mean_interval(base)
        row: dict[str, Any] = {
            "setting": setting,
            "dataset": dataset,
            "model": model,
            "synthetic": bool(g.synthetic.any()),
            "baseline_acc": biv.mean,
            "baseline_low": biv.low,
            "baseline_high": biv.high,
            "seeds": biv.n,
            "resolution": compare.resolution(g).get(setting),
        }
        for r in RATIOS:
            x = d[d.label == f"fixed {round(100 * r)}%"] if len(d) else d
            k = f"drop_{round(100 * r)}"
            row |= {
                k: x.drop_mean.iloc[0] if len(x) else np.nan,
                f"{k}_low": x.drop_low.iloc[0] if len(x) else np.nan,
                f"{k}_high": x.drop_high.iloc[0] if len(x) else np.nan,
            }
        gated = g[g.approach == "gating"]
        row["gated_soft_ratio"] = gated.soft_linear_ratio.mean() if len(gated) else np.nan
        row["gated_effective_ratio"] = gated.linear_ratio.mean() if len(gated) else np.nan
        drop = stats.mean_interval(
            compare.paired(g, "test_acc").query("approach == 'gating'")["diff"]
        )
        row |= {"gated_drop": drop.mean, "gated_drop_low": drop.low, "gated_drop_high": drop.high}
        row["gated_epochs"] = int(gated.epochs.max()) if len(gated) else None
        fixed = g[g.approach == "fixed"]
        row["fixed_epochs"] = int(fixed.epochs.max()) if len(fixed) else None
        rows.append(row)
    return pd.DataFrame(rows)
