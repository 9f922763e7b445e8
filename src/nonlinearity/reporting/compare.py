"""Runs of one setting compared the way the report may quote them: over seeds, paired.

Every comparison here follows `stats`: a configuration (`label`: what a run varies, its
seed aside) is summarised over its seeds with a t interval; a drop is the paired
difference against the all-ReLU run of the *same seed* in the same setting (so the same
data split and model input); a latency ratio pools the interleaved rounds of the
configuration's runs, each round against its own baseline timed in the same round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import stats

LABEL_COLUMNS = ["setting", "label", "approach"]


def is_baseline(summary: pd.DataFrame) -> pd.Series:
    """The all-ReLU runs: fixed, ratio 0 (every pattern is the same network at 0 %)."""
    return (summary.approach == "fixed") & (summary.nominal_ratio.fillna(-1) == 0.0)


def interval_columns(iv: stats.Interval, prefix: str = "") -> dict[str, Any]:
    return {
        f"{prefix}mean": iv.mean,
        f"{prefix}low": iv.low,
        f"{prefix}high": iv.high,
        f"{prefix}n": iv.n,
        f"{prefix}sd": iv.sd,
    }


def seed_table(summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per (setting, label): `column` over seeds as mean, low, high, n, sd; with the
    configuration's mean linear share, its seeds and its runs."""
    rows = []
    df = summary.dropna(subset=[column])
    for (setting, label, approach), g in df.groupby(LABEL_COLUMNS, sort=True, dropna=False):
        rows.append(
            {
                "setting": setting,
                "label": label,
                "approach": approach,
                "linear_ratio": g.linear_ratio.mean(),
                "seeds": sorted(int(s) for s in g.seed.dropna()),
                "runs": list(g.run),
                **interval_columns(stats.mean_interval(g[column])),
            }
        )
    cols = [*LABEL_COLUMNS, "linear_ratio", "seeds", "runs", "mean", "low", "high", "n", "sd"]
    return pd.DataFrame(rows, columns=cols)


def paired(summary: pd.DataFrame, column: str = "test_acc") -> pd.DataFrame:
    """Every non-baseline run beside its same-seed all-ReLU run of the same setting:
    `diff` = baseline − run (a drop for accuracies). Runs without such a baseline are
    left out."""
    base = summary[is_baseline(summary)].dropna(subset=[column])
    base = base.drop_duplicates(["setting", "seed"])[["setting", "seed", "run", column]]
    rows = summary[~is_baseline(summary)].dropna(subset=[column])
    out = rows.merge(base, on=["setting", "seed"], suffixes=("", "_baseline"), how="inner")
    out["diff"] = out[f"{column}_baseline"] - out[column]
    return out.rename(columns={"run_baseline": "baseline"})


def resolution(summary: pd.DataFrame) -> dict[str, float | None]:
    """Per setting: one test sample as a share of the test set (1 / n_test)."""
    out = {}
    for setting, g in summary.groupby("setting"):
        n = g.n_test.dropna()
        out[setting] = 1.0 / float(n.iloc[0]) if len(n) and n.iloc[0] else None
    return out


def drop_table(summary: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Per (setting, label): the paired test-accuracy drop against all-ReLU over seeds, its
    verdict against the tolerance, the seeds that would tell, and the test resolution."""
    pairs = paired(summary, "test_acc")
    res = resolution(summary)
    rows = []
    for (setting, label, approach), g in pairs.groupby(LABEL_COLUMNS, sort=True):
        drop = stats.mean_interval(g["diff"])
        verdict = stats.tolerance_verdict(drop, tolerance)
        rows.append(
            {
                "setting": setting,
                "label": label,
                "approach": approach,
                "linear_ratio": g.linear_ratio.mean(),
                "test_acc": g.test_acc.mean(),
                "baseline_acc": g.test_acc_baseline.mean(),
                **interval_columns(drop, "drop_"),
                "verdict": verdict,
                "seeds_needed": stats.seeds_needed(drop, tolerance)
                if verdict == stats.CANNOT_TELL
                else None,
                "resolution": res.get(setting),
                "seeds": sorted(int(s) for s in g.seed),
            }
        )
    return pd.DataFrame(rows)


def difference(
    summary: pd.DataFrame, a: pd.Series, b: pd.Series, column: str = "test_acc"
) -> tuple[stats.Interval, list[int]]:
    """`column` of runs `a` minus runs `b`, paired by (setting, seed): mean, interval, seeds."""
    left = summary[a].set_index(["setting", "seed"])[column]
    right = summary[b].set_index(["setting", "seed"])[column]
    left = left[~left.index.duplicated()]
    right = right[~right.index.duplicated()]
    both = left.index.intersection(right.index)
    d = (left.loc[both] - right.loc[both]).dropna()
    return stats.mean_interval(d), sorted(int(s) for _, s in d.index)


# --- latency, from the benchmark's interleaved rounds -------------------------------


def latency_rounds(
    runs: Mapping[str, Mapping[str, Any]], summary: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """One row per (run, batch size, folded): its rounds and its baseline's rounds.

    Only rounds whose baseline is the run's current all-ReLU run (same fingerprint) count;
    runs measured against a baseline that has since been retrained are named in the
    second value (stale), not used.
    """
    fp = {r: runs[r]["meta"].get("fingerprint") for r in summary.run if r in runs}
    index = summary.set_index("run")
    rows, stale = [], []
    for run in fp:
        bench = (runs[run]["meta"].get("benchmark") or {}).get("interleaved") or {}
        for bs, m in bench.items():
            base = m.get("baseline")
            if base is None or m.get("baseline_rounds_s") is None:
                continue
            if base not in fp or fp[base] != m.get("baseline_fingerprint"):
                stale.append(run)
                continue
            r = index.loc[run]
            common = {
                "run": run,
                "setting": r.setting,
                "label": r.label,
                "approach": r.approach,
                "seed": r.seed,
                "batch_size": int(bs),
                "baseline": base,
                "baseline_rounds_s": list(m["baseline_rounds_s"]),
                "device": m.get("device"),
                "threads": m.get("threads"),
            }
            rows.append({**common, "folded": False, "rounds_s": list(m["rounds_s"])})
            if m.get("folded_rounds_s"):
                rows.append({**common, "folded": True, "rounds_s": list(m["folded_rounds_s"])})
    cols = ["run", "setting", "label", "approach", "seed", "batch_size", "baseline"]
    cols += ["baseline_rounds_s", "device", "threads", "folded", "rounds_s"]
    return pd.DataFrame(rows, columns=cols), sorted(set(stale))


def latency_table(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per (setting, label, folded, batch size): the run/baseline time ratio pooled over the
    configuration's seeds and rounds, its interval and verdict, and the median ms."""
    rows = []
    keys = ["setting", "label", "approach", "folded", "batch_size"]
    for (setting, label, approach, folded, bs), g in rounds.groupby(keys, sort=True):
        t = np.concatenate([np.asarray(x, float) for x in g.rounds_s])
        b = np.concatenate([np.asarray(x, float) for x in g.baseline_rounds_s])
        ratio = stats.ratio_interval(t, b)
        rows.append(
            {
                "setting": setting,
                "label": label + (" (folded)" if folded else ""),
                "approach": approach,
                "folded": bool(folded),
                "batch_size": int(bs),
                "p50_ms": 1e3 * float(np.median(t)),
                "baseline_p50_ms": 1e3 * float(np.median(b)),
                **interval_columns(ratio, "ratio_"),
                "verdict": stats.speed_verdict(ratio),
                "runs": len(g),
                "device": g.device.iloc[0],
                "threads": g.threads.iloc[0],
            }
        )
    return pd.DataFrame(rows)
