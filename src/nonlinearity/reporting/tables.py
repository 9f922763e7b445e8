"""Tables from the summary: efficiency ranking, the cross-architecture table, findings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .collect import failed_runs

RATIOS = (0.25, 0.5, 0.75)


def efficiency_ranking(summary: pd.DataFrame) -> pd.DataFrame:
    """Runs by test accuracy per millisecond of p50 latency, best first, per setting."""
    cols = ["setting", "run", "label", "test_acc", "latency_p50_ms", "latency_batch_size"]
    df = summary.dropna(subset=["test_acc", "latency_p50_ms"])[cols].copy()
    df["acc_per_ms"] = df["test_acc"] / df["latency_p50_ms"]
    df = df.sort_values(["setting", "acc_per_ms"], ascending=[True, False])
    df["rank"] = df.groupby("setting").cumcount() + 1
    return df.reset_index(drop=True)


def _fixed(summary: pd.DataFrame) -> pd.DataFrame:
    f = summary[(summary.approach == "fixed") & (summary.pattern.fillna("random") == "random")]
    return f.dropna(subset=["nominal_ratio"])


def cross_architecture(summary: pd.DataFrame) -> pd.DataFrame:
    """Guide §6 Q2, per data set and model: test accuracy drop at 25/50/75 % linear against
    the all-ReLU baseline (means over seeds), and the gated runs' effective linear ratio."""
    rows = []
    fixed = _fixed(summary)
    for (dataset, model), g in summary.groupby(["dataset", "model"], sort=True):
        f = fixed[(fixed.dataset == dataset) & (fixed.model == model)]
        base = f[f.nominal_ratio == 0.0].test_acc
        row: dict[str, Any] = {
            "dataset": dataset,
            "model": model,
            "synthetic": bool(g.synthetic.any()),
            "baseline_acc": base.mean() if len(base) else np.nan,
            "seeds": int(base.count()),
        }
        for r in RATIOS:
            acc = f[np.isclose(f.nominal_ratio, r)].test_acc
            row[f"drop_{round(100 * r)}"] = row["baseline_acc"] - acc.mean() if len(acc) else np.nan
        gated = g[g.approach == "gating"]
        row["gated_effective_ratio"] = gated.linear_ratio.mean() if len(gated) else np.nan
        row["gated_soft_ratio"] = gated.soft_linear_ratio.mean() if len(gated) else np.nan
        row["gated_drop"] = row["baseline_acc"] - gated.test_acc.mean() if len(gated) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _configs(g: pd.DataFrame) -> pd.DataFrame:
    """Runs grouped over seeds: mean/min/max test accuracy and mean linear share."""
    return (
        g.groupby("label")
        .agg(
            test_acc=("test_acc", "mean"),
            acc_min=("test_acc", "min"),
            acc_max=("test_acc", "max"),
            acc_std=("test_acc", "std"),
            seeds=("test_acc", "count"),
            linear_ratio=("linear_ratio", "mean"),
            approach=("approach", "first"),
        )
        .reset_index()
    )


def findings(
    summary: pd.DataFrame,
    layers: pd.DataFrame,
    runs: Mapping[str, Mapping[str, Any]],
    tolerance: float = 0.01,
) -> dict[str, Any]:
    """What the data say, per data set and model; every number computed, none typed in."""
    out: dict[str, Any] = {"tolerance": tolerance, "settings": {}, "failed_runs": failed_runs(runs)}
    fixed = _fixed(summary)
    for setting, g in summary.groupby("setting", sort=True):
        f = fixed[fixed.setting == setting]
        base = f[f.nominal_ratio == 0.0]
        item: dict[str, Any] = {
            "dataset": g.dataset.iloc[0],
            "model": g.model.iloc[0],
            "synthetic": bool(g.synthetic.any()),
            "runs": len(g),
        }
        if len(base):
            b = float(base.test_acc.mean())
            item["baseline_acc"] = b
            cfgs = _configs(g.dropna(subset=["linear_ratio", "test_acc"]))
            ok = cfgs[cfgs.test_acc >= b - tolerance]
            if len(ok):
                best = ok.sort_values(["linear_ratio", "test_acc"], ascending=False).iloc[0]
                item["smallest_nonlinear_share"] = {
                    "config": best["label"],
                    "nonlinear_share": 1 - float(best["linear_ratio"]),
                    "test_acc": float(best["test_acc"]),
                    "drop": b - float(best["test_acc"]),
                    "seeds": int(best["seeds"]),
                    "acc_min": float(best["acc_min"]),
                    "acc_max": float(best["acc_max"]),
                }
            half = f[np.isclose(f.nominal_ratio, 0.5)]
            if len(half) and base.latency_p50_ms.notna().any():
                item["latency_at_50"] = {
                    "baseline_ms": float(base.latency_p50_ms.mean()),
                    "mixed_ms": float(half.latency_p50_ms.mean()),
                    "speedup": float(base.latency_p50_ms.mean() / half.latency_p50_ms.mean()),
                    "batch_size": int(base.latency_batch_size.iloc[0]),
                }
                pruned = g[(g.approach == "pruning") & g.folded_latency_p50_ms.notna()]
                if len(pruned):
                    p = pruned.sort_values("linear_ratio").iloc[
                        int(np.argmin(np.abs(pruned.linear_ratio.to_numpy() - 0.5)))
                    ]
                    item["latency_at_50"]["folded"] = {
                        "run": p["run"],
                        "linear_ratio": float(p["linear_ratio"]),
                        "unfolded_ms": float(p["latency_p50_ms"]),
                        "folded_ms": float(p["folded_latency_p50_ms"]),
                        "speedup": float(p["latency_p50_ms"] / p["folded_latency_p50_ms"]),
                    }
        gap = f.dropna(subset=["gen_gap"])
        if gap.nominal_ratio.nunique() >= 2:
            slope = float(np.polyfit(gap.nominal_ratio, gap.gen_gap, 1)[0])
            item["gen_gap_trend"] = {
                "slope_per_unit_ratio": slope,
                "at_0": float(gap[gap.nominal_ratio == gap.nominal_ratio.min()].gen_gap.mean()),
                "at_max": float(gap[gap.nominal_ratio == gap.nominal_ratio.max()].gen_gap.mean()),
                "max_ratio": float(gap.nominal_ratio.max()),
            }
        gated_layers = {}
        for run in g[g.approach == "gating"].run:
            hard = [r for r in runs[run]["history"] if r.get("epoch") == "hardened"]
            final = (hard or runs[run]["history"])[-1].get("gating") or []
            shares = [1 - s["alpha_mean"] for s in final]
            if shares:
                trend = (
                    float(np.polyfit(range(len(shares)), shares, 1)[0]) if len(shares) > 1 else 0
                )
                gated_layers[run] = {
                    "linear_share_per_layer": shares,
                    "layers": [s.get("name", str(s.get("layer"))) for s in final],
                    "slope_per_layer": trend,
                }
        if gated_layers:
            item["gated_layers"] = gated_layers
        pruned = g[g.approach == "pruning"]
        comparisons = []
        fixed_means = f.groupby("nominal_ratio").test_acc.agg(["mean", "count"]).reset_index()
        for _, p in pruned.iterrows():
            if not len(fixed_means) or pd.isna(p.linear_ratio):
                continue
            # the fixed ratio nearest the pruned run's share, averaged over its seeds
            n = fixed_means.iloc[int(np.argmin(np.abs(fixed_means.nominal_ratio - p.linear_ratio)))]
            comparisons.append(
                {
                    "pruned_run": p["run"],
                    "source_run": p["source_run"],
                    "linear_ratio": float(p["linear_ratio"]),
                    "test_acc": float(p["test_acc"]),
                    "fixed_ratio": float(n["nominal_ratio"]),
                    "fixed_test_acc": float(n["mean"]),
                    "fixed_seeds": int(n["count"]),
                }
            )
        if comparisons:
            item["pruning_vs_fixed"] = comparisons
        out["settings"][setting] = item
    if len(layers):
        out["layers_linearized"] = layers[layers.linearized.astype(bool)][["run", "layer"]].to_dict(
            orient="records"
        )
    return out
