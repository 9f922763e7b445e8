"""ReLU count per sample beside accuracy, the way SNL and AutoReP report a network.

A run's ReLU count is meta.json's `nonlinear_evals_per_sample` (summary column
`relu_count`): every neuron that still applies its nonlinearity, a conv channel once per
position, over every activation of the model (a hidden head's too):

    relu_count = Σ_sites Σ_c m_c · positions_site

A configuration's count is the mean over its seeds (a `relu_budget` run has the same
count on every seed); its accuracy the mean with the Student-t 95 % interval over seeds
(`stats`). docs/metrics.md, "ReLU counts", has the conventions and published points.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogFormatterSciNotation

from . import figures, stats
from .findings import pct

TITLE = "Accuracy vs ReLU count per sample"
NO_COUNT = "no run has a ReLU count (meta.json nonlinear_evals_per_sample)"
ALL_RELU = "all-ReLU (fixed 0 %)"


class _Counts(LogFormatterSciNotation):
    """Log-axis labels where matplotlib would put them, written as counts: 500, 2k, 40k."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return EngFormatter(sep="")(x) if super().__call__(x, pos) else ""


def _all_relu(table: pd.DataFrame) -> pd.Series:
    """The all-ReLU configuration of each setting: fixed at ratio 0."""
    return (table.approach == "fixed") & (table.linear_ratio.fillna(-1) == 0.0)


def accuracy_vs_relu_count(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Test accuracy against the ReLU count per sample on a log axis: each configuration's
    mean ± 95 % CI over seeds, the all-ReLU configuration ringed and its count marked.
    Configurations without a ReLU (count 0) cannot sit on a log axis; the legend says so."""
    if "relu_count" not in summary:  # a summary from before the column existed
        return figures._empty(TITLE, NO_COUNT)
    table = figures._configs(summary, "test_acc", "relu_count")
    zero = table[table.x <= 0]
    table = table[table.x > 0]

    def draw(ax, g: pd.DataFrame, legend: dict) -> None:
        figures._draw_configs(ax, g, legend)
        for _, b in g[_all_relu(g)].iterrows():
            (ring,) = ax.plot(b.x, b["mean"], "o", ms=15, mfc="none", mec="k", mew=1.2, zorder=5)
            legend.setdefault(ALL_RELU, ring)
            ax.axvline(b.x, color="0.35", lw=1, ls=":", zorder=1)
            ax.text(b.x, 1.0, f" all-ReLU: {b.x:,.0f}", transform=ax.get_xaxis_transform(),
                    fontsize=8, color="0.35", ha="right", va="top", rotation=90)  # fmt: skip
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_Counts())
        ax.xaxis.set_minor_formatter(_Counts(labelOnlyBase=False))
        ax.set(xlabel="ReLU count per sample (log; mean over seeds)", ylabel="test accuracy")
        ax.margins(x=0.08, y=0.1)

    title = figures._ci_title(table.n) if len(table) else ""
    if len(zero):
        title += f"\nleft off the log axis (no ReLU left): {', '.join(sorted(set(zero.label)))}"
    return figures._by_setting(table, TITLE, NO_COUNT, draw, title, summary)


def relu_count_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: its ReLU count per sample (mean, min, max over seeds), that as a
    share of the setting's all-ReLU count, and test accuracy over seeds (mean, 95 % CI)."""
    cols = ["setting", "label", "approach", "relu_count", "relu_min", "relu_max", "of_all_relu"]
    cols += ["acc_mean", "acc_low", "acc_high", "seeds"]
    if "relu_count" not in summary:
        return pd.DataFrame(columns=cols)
    df = summary.dropna(subset=["relu_count", "test_acc"])
    rows = []
    for (setting, label, approach), g in df.groupby(["setting", "label", "approach"]):
        iv = stats.mean_interval(g.test_acc)
        count = g.relu_count.astype(float)
        rows.append([setting, label, approach, count.mean(), count.min(), count.max(), None,
                     iv.mean, iv.low, iv.high, g.run.nunique()])  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    base = df[(df.approach == "fixed") & (df.nominal_ratio.fillna(-1) == 0.0)]
    full = base.groupby("setting").relu_count.mean()
    table["of_all_relu"] = [
        c / full[s] if s in full and full[s] else None
        for s, c in zip(table.setting, table.relu_count, strict=True)
    ]
    return table.sort_values(["setting", "relu_count"], ascending=[True, False], kind="stable")


def _count(r: Mapping[str, Any]) -> str:
    if r["relu_min"] == r["relu_max"]:
        return f"{r['relu_count']:,.0f}"
    return f"{r['relu_count']:,.0f} ({r['relu_min']:,.0f}–{r['relu_max']:,.0f})"


def _acc(r: Mapping[str, Any]) -> str:
    if r["acc_low"] is None or np.isnan(r["acc_low"]):
        return f"{pct(r['acc_mean'], 2)} (1 seed)"
    return f"{pct(r['acc_mean'], 2)} [{pct(r['acc_low'], 2)}, {pct(r['acc_high'], 2)}]"


def report_section(summary: pd.DataFrame) -> list[str]:
    """The report's "ReLU count per sample" section: the table of `relu_count_table`."""
    table = relu_count_table(summary)
    out = ["### ReLU count per sample", ""]
    if table.empty:
        return out + [f"_{NO_COUNT[0].upper()}{NO_COUNT[1:]}._", ""]
    out += [
        "ReLUs evaluated per sample (a conv channel once per position, as SNL and AutoReP "
        "count; every activation of the model, a hidden head's too), beside test accuracy "
        "(mean over seeds with its 95 % interval). Conventions and published points: "
        '`docs/metrics.md`, "ReLU counts".',
        "",
        "| setting | configuration | ReLU count (min–max over seeds) | of all-ReLU | "
        "test acc [95 % CI] | seeds |",
        "|---|---|---|---|---|---|",
    ]
    out += [
        f"| {r['setting']} | {r['label']} | {_count(r)} | {pct(r['of_all_relu'], 1)} | "
        f"{_acc(r)} | {r['seeds']} |"
        for _, r in table.iterrows()
    ]
    return out + [""]
