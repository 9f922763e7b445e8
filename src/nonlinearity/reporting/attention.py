"""Which module kinds gating keeps nonlinear (issue 17, item 3).

A transformer's sites have a module kind: `ffn` (the FFN's GELU) or the attention
projection an inserted site follows (`query`, `key`, `value`, `output`; `model.attention`,
docs/methods.md). For a gated run and kind k, from its last record (hardened masks):

    share_k = Σ_{sites of kind k} num_features · alpha_mean / Σ_{sites of kind k} num_features

the share of the kind's channels that stayed nonlinear (alpha_mean of a hardened layer is
its nonlinear share). Over the seeds of one configuration: the mean with its Student-t
95 % interval (`stats.mean_interval`). Against the FFN, paired per seed:
d_i = share_k(seed i) − share_ffn(seed i), "more" or "less nonlinear than the FFN" only
when the interval of d̄ excludes 0. A kind is "all linear" when every seed hardened all
its channels linear, "kept nonlinear" when the interval's lower end is above 0; anything
else, and one seed, cannot tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import stats

KINDS = ("query", "key", "value", "output", "ffn")  # forward order within a layer
COLUMNS = ["setting", "label", "run", "seed", "kind", "nonlinear_share", "num_features"]


def kind_shares(summary: pd.DataFrame, runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Per gated run and module kind: the hardened nonlinear share of the kind's channels."""
    rows = []
    gated = summary[summary.approach == "gating"] if len(summary) else summary
    for r in gated.itertuples():
        history = runs.get(r.run, {}).get("history") or [{}]  # a result's last: hardened
        layers = [s for s in history[-1].get("gating") or [] if s.get("kind")]
        for kind in KINDS:
            of = [s for s in layers if s["kind"] == kind]
            width = sum(s["num_features"] for s in of)
            if width:
                share = sum(s["num_features"] * s["alpha_mean"] for s in of) / width
                rows.append([r.setting, r.label, r.run, r.seed, kind, share, width])
    return pd.DataFrame(rows, columns=COLUMNS)


def _configs(shares: pd.DataFrame):
    """(setting, label), rows of the configurations whose runs have attention sites."""
    for key, g in shares.groupby(["setting", "label"], sort=True):
        if set(g.kind) - {"ffn"}:
            yield key, g


def kind_findings(summary: pd.DataFrame, runs: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """Per configuration with attention sites and per kind: share over seeds, its verdict
    and, for attention kinds, the paired difference to the FFN's share; with a sentence."""
    out = []
    for (setting, label), g in _configs(kind_shares(summary, runs)):
        ffn = g[g.kind == "ffn"].set_index("seed").nonlinear_share
        for kind in [k for k in KINDS if k in set(g.kind)]:
            k = g[g.kind == kind].set_index("seed").nonlinear_share
            iv = stats.mean_interval(k)
            if iv.n < 2:
                verdict = stats.CANNOT_TELL
            elif (k == 0).all():
                verdict = "all linear"
            else:
                verdict = "kept nonlinear" if iv.low > 0 else stats.CANNOT_TELL
            row = {"setting": setting, "label": label, "kind": kind, "verdict": verdict}
            row |= {"share": iv.as_dict(), "vs_ffn": None}
            if kind != "ffn" and len(ffn):
                seeds = k.index.intersection(ffn.index)
                d = stats.mean_interval(k[seeds] - ffn[seeds])
                than = stats.CANNOT_TELL
                if d.excludes(0.0):
                    than = "more nonlinear than the FFN" if d.mean > 0 else "less nonlinear"
                row["vs_ffn"] = {**d.as_dict(), "verdict": than}
            row["sentence"] = _sentence(row)
            out.append(row)
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _sentence(row: Mapping[str, Any]) -> str:
    s, kind = row["share"], row["kind"]
    where = f"{row['setting']}, {row['label']}, {kind}"
    if s["n"] < 2:
        return f"{where}: {_pct(s['mean'])} of channels nonlinear from one seed; cannot tell."
    told = (
        f"{where}: gating keeps {_pct(s['mean'])} of the channels nonlinear "
        f"(95 % CI {_pct(s['low'])} to {_pct(s['high'])}, n = {s['n']}): {row['verdict']}"
    )
    d = row["vs_ffn"]
    if d and d["n"] >= 2:
        told += (
            f"; against the FFN {100 * d['mean']:+.1f} points "
            f"(CI {100 * d['low']:+.1f} to {100 * d['high']:+.1f}): {d['verdict']}"
        )
    return told + "."


def module_kinds(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Per gated configuration with attention sites: the hardened nonlinear share of each
    module kind, mean ± 95 % CI over seeds, with each seed's value as a dot."""
    from matplotlib.patches import Patch

    from . import figures as fg  # figures registers this one: imported when it is drawn

    shares = kind_shares(summary, runs or {})
    configs = list(_configs(shares))
    if not configs:
        return fg._empty(
            "Nonlinear share per module kind",
            "no gated runs with attention sites (model.attention)",
        )
    fg._style()
    fig, axes = fg._subplots(1, len(configs), figsize=(4.6 * len(configs) + 0.6, 4.6))
    colour, legend = fg.PALETTE["gating"], {}
    for ax, ((setting, label), g) in zip(axes.flat, configs, strict=True):
        kinds = [k for k in KINDS if k in set(g.kind)]
        x = np.arange(len(kinds))
        for i, kind in enumerate(kinds):
            v = g[g.kind == kind].nonlinear_share
            iv = stats.mean_interval(v)
            one = iv.n < 2
            face = fg.HOLLOW if one else colour
            ax.bar(i, iv.mean, width=0.6, color=face, edgecolor=colour, lw=1.4)
            if not one:
                err = [[iv.mean - iv.low], [iv.high - iv.mean]]
                ax.errorbar(i, iv.mean, yerr=err, fmt="none", ecolor="k", capsize=4, lw=1)
            jitter = np.linspace(-0.15, 0.15, len(v)) if len(v) > 1 else [0.0]
            ax.scatter(i + np.asarray(jitter), v, s=14, c="k", zorder=3)
        n = g.groupby("kind").run.nunique().max()
        ax.set_xticks(x, kinds)
        ax.set(
            title=f"{fg._title(setting, g)}, {label} ({fg._seeds(n)})",
            ylabel="hardened nonlinear share",
            ylim=(-0.02, 1.02),
        )
        bar = Patch(facecolor=colour if n > 1 else fg.HOLLOW, edgecolor=colour)
        legend.setdefault("mean ± 95 % CI over seeds" if n > 1 else fg.ONE_SEED, bar)
        legend.setdefault("one seed's share", fg._proxy("o", "k", "k"))
    fig.suptitle("Which module kinds gating keeps nonlinear (1 = all channels nonlinear)")
    ns = shares.groupby(["setting", "label", "kind"]).run.nunique()
    fg._legend(fig, legend, fg._ci_title(ns))
    return fig


def section(findings: Mapping[str, Any]) -> list[str]:
    """report.md: the module-kind table and sentences; nothing without attention sites."""
    rows = findings.get("module_kinds") or []
    if not rows:
        return []
    out = [
        "## Module kinds: which ones gating keeps nonlinear",
        "",
        "Gated transformer runs with sites after attention projections (`model.attention`; "
        "inserted sites start linear, the pretrained function, FFN sites nonlinear). Share "
        "of each kind's channels nonlinear after hardening, mean with the Student-t 95 % "
        "interval over seeds; against the FFN, the paired per-seed difference "
        "(`reporting/attention.py`).",
        "",
        "| setting | configuration | kind | nonlinear share | 95 % CI | n | verdict | − FFN |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s, d = r["share"], r["vs_ffn"]
        ci = "–" if s["low"] is None else f"{_pct(s['low'])} – {_pct(s['high'])}"
        diff = "–" if not d or d["low"] is None else f"{100 * d['mean']:+.1f} pts: {d['verdict']}"
        out.append(
            f"| {r['setting']} | {r['label']} | {r['kind']} | {_pct(s['mean'])} | {ci} | "
            f"{s['n']} | {r['verdict']} | {diff} |"
        )
    out += ["", *[f"- {r['sentence']}" for r in rows], ""]
    return out
