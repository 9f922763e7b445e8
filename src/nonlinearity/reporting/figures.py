"""The report's figures, one function each: summary (and run records) -> a Figure.

One panel per data set and model (`setting`); a figure without data says so in its
middle rather than showing an empty axis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

APPROACH_ORDER = ["fixed", "layerwise", "gating", "pruning"]
PALETTE = dict(zip(APPROACH_ORDER, sns.color_palette("colorblind", 4), strict=True))
MARKERS = {"fixed": "o", "layerwise": "s", "gating": "D", "pruning": "^"}


def _subplots(rows: int = 1, cols: int = 1, figsize=(6.0, 4.0), **kwargs):
    """Figures without pyplot: no global state, no GUI backend, shown inline in notebooks.

    Constrained layout keeps suptitles, colour bars and figure legends clear of the panels.
    """
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False, **kwargs)


def _int_epochs(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _short(name: str, index: Any) -> str:
    """A layer's label: its name when short, else its index (transformer paths are long)."""
    return f"{index}: {name}" if len(name) <= 14 else f"layer {index}"


def _run_title(summary: pd.DataFrame, run: str) -> str:
    r = summary.set_index("run").loc[run]
    return f"{r.setting}, {r.label} s{r.seed}"


def _style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.9)


def _panels(settings: list[str], width: float = 4.6, height: float = 3.6):
    n = max(len(settings), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = _subplots(rows, cols, figsize=(width * cols, height * rows))
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _empty(title: str, why: str) -> Figure:
    _style()
    fig, axes = _subplots(figsize=(6, 2.5))
    ax = axes[0, 0]
    ax.axis("off")
    ax.text(0.5, 0.5, why, ha="center", va="center", wrap=True, fontsize=11)
    fig.suptitle(title)
    return fig


def _legend(fig: Figure, axes: list) -> None:
    handles: dict = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
        if ax.get_legend():
            ax.get_legend().remove()
    if handles:
        ncol = min(len(handles), max(2, int(fig.get_size_inches()[0] / 1.6)))
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="outside lower center",
            ncol=ncol,
            frameon=False,
        )


def _title(setting: str, g: pd.DataFrame) -> str:
    return setting + (" (synthetic data)" if g.synthetic.any() else "")


def _by_setting(
    summary: pd.DataFrame,
    needed: list[str],
    title: str,
    empty: str,
    draw: Callable[[Any, pd.DataFrame], None],
) -> Figure:
    """One panel per setting over the runs that have every `needed` column; `draw(ax, runs)`."""
    df = summary.dropna(subset=needed)
    if df.empty:
        return _empty(title, empty)
    _style()
    settings = sorted(df.setting.unique())
    fig, axes = _panels(settings)
    for ax, s in zip(axes, settings, strict=True):
        g = df[df.setting == s]
        draw(ax, g)
        ax.set_title(_title(s, g))
    fig.suptitle(title)
    _legend(fig, axes)
    return fig


def _scatter(ax, g: pd.DataFrame, x: str, y: str, approaches=APPROACH_ORDER, scale=1.0) -> None:
    """One marker style per approach."""
    for a in approaches:
        o = g[g.approach == a].dropna(subset=[x, y])
        if len(o):
            ax.scatter(
                o[x] / scale, o[y], color=PALETTE[a], marker=MARKERS[a], s=45, label=a, zorder=3
            )


def _folded(ax, folded: pd.DataFrame, x: str, scale: float = 1.0) -> None:
    """Pruned runs' folded models: hollow markers of the pruning colour."""
    if len(folded):
        ax.scatter(
            folded[x] / scale,
            folded.test_acc,
            facecolors="none",
            edgecolors=PALETTE["pruning"],
            marker="^",
            s=60,
            label="pruning, folded",
            zorder=3,
        )


def _against_ratio(
    summary: pd.DataFrame, y: str, ylabel: str, title: str, empty: str, zero_line: bool = False
) -> Figure:
    """`y` against the linear share: fixed ratios as mean ± 95 % CI over seeds, others as points."""

    def draw(ax, g: pd.DataFrame) -> None:
        fixed = g[(g.approach == "fixed") & (g.pattern.fillna("random") == "random")]
        if len(fixed):
            sns.lineplot(
                fixed,
                x="nominal_ratio",
                y=y,
                errorbar=("ci", 95),
                marker="o",
                color=PALETTE["fixed"],
                label="fixed (mean ± 95% CI)",
                ax=ax,
            )
        _scatter(ax, g, "linear_ratio", y, ("layerwise", "gating", "pruning"))
        if zero_line:
            ax.axhline(0, color="grey", lw=0.8)
        ax.set(xlabel="linear share of activation neurons", ylabel=ylabel, xlim=(-0.05, 1.05))

    return _by_setting(summary, [y, "linear_ratio"], title, empty, draw)


def accuracy_vs_ratio(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Test accuracy against the linear share; fixed ratios as mean ± 95 % CI over seeds."""
    return _against_ratio(
        summary, "test_acc", "test accuracy", "Accuracy vs linear ratio", "no trained runs"
    )


def _pareto(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both (lower x, higher y), by x."""
    order = np.lexsort((-y, x))
    front, best = [], -np.inf
    for i in order:
        if y[i] > best:
            front.append(i)
            best = y[i]
    return np.array(front, dtype=int)


def latency_vs_accuracy(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    def draw(ax, g: pd.DataFrame) -> None:
        _scatter(ax, g, "latency_p50_ms", "test_acc")
        folded = g[g.approach == "pruning"].dropna(subset=["folded_latency_p50_ms"])
        _folded(ax, folded, "folded_latency_p50_ms")
        x = np.concatenate([g.latency_p50_ms.to_numpy(), folded.folded_latency_p50_ms.to_numpy()])
        y = np.concatenate([g.test_acc.to_numpy(), folded.test_acc.to_numpy()])
        front = _pareto(x, y)
        ax.plot(
            x[front], y[front], "k--", lw=1, marker="o", mfc="none", ms=10, label="Pareto frontier"
        )
        ax.margins(x=0.08, y=0.1)
        bs = g.latency_batch_size.dropna()
        ax.set(
            ylabel="test accuracy",
            xlabel=f"p50 latency, ms per batch of {int(bs.iloc[0]) if len(bs) else '?'}",
        )

    return _by_setting(
        summary,
        ["latency_p50_ms", "test_acc"],
        "Latency vs accuracy, with the Pareto frontier",
        "no run has a latency measurement",
        draw,
    )


def accuracy_vs_flops(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    def draw(ax, g: pd.DataFrame) -> None:
        _scatter(ax, g, "linear_flops", "test_acc", scale=1e6)
        _folded(ax, g[g.approach == "pruning"].dropna(subset=["folded_flops"]), "folded_flops", 1e6)
        ax.set(xlabel="Linear/Conv FLOPs per sample (millions)", ylabel="test accuracy")
        ax.set_xlim(left=0)
        ax.margins(y=0.1)

    return _by_setting(
        summary,
        ["linear_flops", "test_acc"],
        "Accuracy vs FLOPs (only folding removes FLOPs)",
        "no run has a FLOP count",
        draw,
    )


def training_curves(summary: pd.DataFrame, runs: Mapping) -> Figure:
    rows = []
    for run, rec in runs.items():
        if run not in set(summary.run):
            continue
        s = summary.set_index("run").loc[run]
        for r in rec["history"]:
            if isinstance(r.get("epoch"), int) and r.get("val_acc") is not None:
                rows.append(
                    {
                        "setting": s.setting,
                        "label": s.label,
                        "seed": s.seed,
                        "epoch": r["epoch"],
                        "val_acc": r["val_acc"],
                        "phase": r.get("phase"),
                    }
                )
    df = pd.DataFrame(rows)
    if df.empty:
        return _empty("Training curves", "no run has epoch records")
    _style()
    settings = sorted(df.setting.unique())
    fig, axes = _panels(settings, width=5.2)
    for ax, s in zip(axes, settings, strict=True):
        g = df[(df.setting == s) & ~df.label.str.startswith("pruned")]
        sns.lineplot(
            g,
            x="epoch",
            y="val_acc",
            hue="label",
            errorbar=None,
            ax=ax,
            palette="tab10",
            linewidth=1.2,
        )
        ax.set(
            title=s,
            xlabel="epoch (gated: after hardening, fine-tune epochs)",
            ylabel="validation accuracy",
        )
        _int_epochs(ax)
        ax.legend(fontsize=7, ncol=2, loc="lower right", title=None)
    fig.suptitle("Training curves (mean over seeds)")
    return fig


def _gated(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary.approach == "gating"]


def gate_dynamics(summary: pd.DataFrame, runs: Mapping) -> Figure:
    """Per layer, over the soft epochs: mean alpha and the share of alphas below 0.1."""
    rows = []
    for run in _gated(summary).run:
        for r in runs[run]["history"]:
            if r.get("phase") == "train" and isinstance(r.get("epoch"), int):
                for st in r.get("gating") or []:
                    rows.append(
                        {
                            "run": run,
                            "epoch": r["epoch"],
                            "layer": _short(str(st.get("name")), st.get("layer")),
                            "alpha_mean": st["alpha_mean"],
                            "lt": st["alpha_lt_0.1"],
                        }
                    )
    df = pd.DataFrame(rows)
    if df.empty:
        return _empty("Gate dynamics", "no gated runs (kedro run --pipeline=train_gated)")
    _style()
    names = sorted(df.run.unique())
    fig, axes = _subplots(len(names), 2, figsize=(10, 3.2 * len(names)))
    for row, run in zip(axes, names, strict=True):
        g = df[df.run == run]
        sns.lineplot(g, x="epoch", y="alpha_mean", hue="layer", marker="o", ax=row[0])
        sns.lineplot(g, x="epoch", y="lt", hue="layer", marker="o", ax=row[1], legend=False)
        title = _run_title(summary, run)
        _int_epochs(row[0])
        _int_epochs(row[1])
        row[0].set(
            title=f"{title}: mean gate α",
            ylabel="mean α (1 = ReLU, 0 = identity)",
            ylim=(-0.02, 1.02),
        )
        row[1].set(title=f"{title}: share of α < 0.1", ylabel="share", ylim=(-0.02, 1.02))
        row[0].legend(fontsize=7, title=None)
    fig.suptitle("Gate dynamics during the soft phase")
    return fig


def alpha_distributions(summary: pd.DataFrame, runs: Mapping) -> Figure:
    """Per layer, each neuron's gate at the end of the soft phase (before hardening)."""
    rows = []
    for run in _gated(summary).run:
        for layer, alphas in (runs[run]["meta"].get("gates_before_hardening") or {}).items():
            index = len({r["layer"] for r in rows if r["run"] == run})
            short = _short(layer.removeprefix("head."), index)
            rows += [{"run": run, "layer": short, "alpha": a} for a in alphas]
    df = pd.DataFrame(rows)
    if df.empty:
        return _empty("Gate α distributions", "no gated runs with gates recorded before hardening")
    _style()
    names = sorted(df.run.unique())
    fig, axes = _subplots(
        1, len(names), figsize=(max(5, 1.6 * df.layer.nunique()) * len(names), 3.8)
    )
    for ax, run in zip(axes[0], names, strict=True):
        sns.violinplot(
            df[df.run == run],
            x="layer",
            y="alpha",
            cut=0,
            density_norm="width",
            inner="quartile",
            ax=ax,
            color=PALETTE["gating"],
        )
        ax.set(
            title=_run_title(summary, run),
            xlabel="layer (in forward order)",
            ylabel="gate α before hardening",
            ylim=(-0.02, 1.02),
        )
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle("Gate α per neuron, by layer (1 = ReLU, 0 = identity)")
    return fig


def generalisation_gap(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    return _against_ratio(
        summary,
        "gen_gap",
        "train acc − val acc (last epoch)",
        "Generalisation gap vs linear ratio",
        "no run has train and validation accuracy",
        zero_line=True,
    )


def nonlinear_units_vs_accuracy(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    def draw(ax, g: pd.DataFrame) -> None:
        _scatter(ax, g, "nonlinear_units", "test_acc")
        ax.set(xlabel="neurons that still apply their nonlinearity", ylabel="test accuracy")

    return _by_setting(
        summary,
        ["nonlinear_units", "test_acc"],
        "Nonlinear units vs accuracy",
        "no run has a nonlinear unit count",
        draw,
    )


def layer_sensitivity(summary: pd.DataFrame, runs: Mapping) -> Figure:
    """Layer-wise schedules: each layer's linear share (heatmap) and the accuracy drop."""
    lw = summary[summary.approach == "layerwise"]
    if lw.empty:
        return _empty("Layer-wise sensitivity", "no layer-wise runs")
    _style()
    settings = sorted(lw.setting.unique())
    fig, axes = _subplots(
        len(settings),
        2,
        figsize=(10, 0.6 * len(lw) + 2.2 * len(settings)),
        gridspec_kw={"width_ratios": [3, 2]},
    )
    for (heat_ax, bar_ax), s in zip(axes, settings, strict=True):
        g = summary[summary.setting == s]
        base = g[(g.approach == "fixed") & (g.nominal_ratio == 0)].test_acc.mean()
        rows = {}
        for _, r in g[g.approach == "layerwise"].iterrows():
            final = runs[r.run]["history"][-1].get("gating") or []
            rows[f"{r.label} s{r.seed}"] = [1 - st["alpha_mean"] for st in final]
        mat = pd.DataFrame.from_dict(rows, orient="index")
        mat.columns = [f"layer {i}" for i in mat.columns]
        sns.heatmap(
            mat,
            vmin=0,
            vmax=1,
            cmap="mako_r",
            annot=True,
            fmt=".2f",
            ax=heat_ax,
            cbar_kws={"label": "linear share"},
        )
        heat_ax.set(title=f"{s}: linear share per layer", xlabel="", ylabel="")
        runs_lw = g[g.approach == "layerwise"].run
        accs = np.array([float(g[g.run == run].test_acc.iloc[0]) for run in runs_lw])
        y = np.arange(len(accs))
        if np.isnan(base):
            # no all-ReLU run to compare with: the accuracies themselves, as dots
            bar_ax.plot(accs, y, "o", color=PALETTE["layerwise"])
            bar_ax.set(title="test accuracy (no all-ReLU run)", xlabel="test accuracy")
            values = accs
        else:
            # the change against all-ReLU, from zero, so bar lengths compare honestly
            values = accs - base
            bar_ax.barh(y, values, color=PALETTE["layerwise"], height=0.5)
            bar_ax.axvline(0, color="k", lw=1)
            bar_ax.set(
                title=f"test accuracy against all-ReLU ({base:.4f})",
                xlabel="test accuracy − all-ReLU",
            )
            span = max(np.abs(values).max(), 1e-3)
            bar_ax.set_xlim(-1.6 * span, 1.6 * span)
        for i, (v, a) in enumerate(zip(values, accs, strict=True)):
            bar_ax.text(
                v, i, f" {a:.4f} ", va="center", ha="left" if v >= 0 else "right", fontsize=8
            )
        bar_ax.set_ylim(len(accs) - 0.5, -0.5)  # rows in the heatmap's order
        bar_ax.set_yticks(y, [""] * len(y))
        bar_ax.xaxis.set_major_locator(MaxNLocator(5))
    fig.suptitle("Layer-wise sensitivity")
    return fig


FIGURES: dict[str, Callable[[pd.DataFrame, Any], Figure]] = {
    "accuracy_vs_ratio": accuracy_vs_ratio,
    "latency_vs_accuracy": latency_vs_accuracy,
    "accuracy_vs_flops": accuracy_vs_flops,
    "training_curves": training_curves,
    "gate_dynamics": gate_dynamics,
    "alpha_distributions": alpha_distributions,
    "generalisation_gap": generalisation_gap,
    "nonlinear_units_vs_accuracy": nonlinear_units_vs_accuracy,
    "layer_sensitivity": layer_sensitivity,
}
