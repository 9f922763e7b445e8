"""The report's figures, one function each: summary (and run records) -> a Figure.

Every point is a configuration (`label`: a run's settings but its seed) at its mean over
seeds with the Student-t 95 % interval of `stats`; a configuration of one seed is drawn
hollow, without an interval, and the legend says so. Latency is the time ratio to the
same-seed all-ReLU run from the benchmark's interleaved rounds (`compare.latency_table`),
never one run's own timing. One panel per data set and model (`setting`); a figure
without data says why in its middle rather than showing an empty axis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from . import compare, stats
from .attention import module_kinds
from .neurons import neuron_agreement

APPROACH_ORDER = ["fixed", "layerwise", "gating", "matched", "pruning"]
PALETTE = dict(zip(APPROACH_ORDER, sns.color_palette("colorblind", 5), strict=True))
MARKERS = {"fixed": "o", "layerwise": "s", "gating": "D", "matched": "P", "pruning": "^"}

FOLDED = "pruning, folded"  # a pruned run's folded model: its own points
PATTERN_MARKERS = {"structured": "X", "alternating": "*"}  # fixed, other than random
ONE_SEED = "1 seed (no interval)"
HOLLOW = "white"  # face of a one-seed marker
NOT_MEASURED = "latency not measured: run kedro run --pipelines=benchmark"
CANNOT_TELL = "overlapping intervals cannot be told apart"
MEAN_ALPHA = "layer's mean α"
PAIRED = "mean ± 95 % CI over seeds of the same-seed differences"


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


def _style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.9)


def _panels(settings: list[str], width: float = 5.6, height: float = 4.0):
    n = max(len(settings), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    # room below the panels for the figure's legend
    fig, axes = _subplots(rows, cols, figsize=(width * cols, height * rows + 1.4))
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


def _title(setting: str, g: pd.DataFrame) -> str:
    synthetic = "synthetic" in g and g.synthetic.fillna(False).astype(bool).any()
    return setting + (" (synthetic data)" if synthetic else "")


def _seeds(n: int) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"


def _runs(n: int) -> str:
    return "1 run" if n == 1 else f"{n} runs"


def _n_range(ns) -> str:
    """`n = 3` or `n = 2–5` over the configurations that have an interval."""
    ns = sorted({int(n) for n in ns if n >= 2})
    if not ns:
        return ""
    return f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]}"


# --- configurations as points ---------------------------------------------------------


def _kind(approach: str, pattern: Any) -> str:
    """What a point's colour and marker stand for: the approach, or a fixed pattern."""
    if approach == "fixed" and isinstance(pattern, str) and pattern != "random":
        return f"fixed, {pattern}"
    return approach


def _look(kind: str) -> tuple[Any, str]:
    """(colour, marker) of a kind of point."""
    if kind == FOLDED:
        return PALETTE["pruning"], "v"
    if kind.startswith("fixed, "):
        return PALETTE["fixed"], PATTERN_MARKERS.get(kind.removeprefix("fixed, "), "h")
    return PALETTE.get(kind, "grey"), MARKERS.get(kind, "o")


def _rank(kind: str) -> tuple[int, str]:
    """Kinds in APPROACH_ORDER, folded after pruning, other fixed patterns after fixed."""
    order = [*APPROACH_ORDER, FOLDED]
    head = kind if kind in order else kind.split(",", maxsplit=1)[0]
    return (order.index(head) if head in order else len(order), kind)


def _kind_order(kinds) -> list[str]:
    return sorted(set(kinds), key=_rank)


def _label_order(g: pd.DataFrame) -> list[str]:
    """A setting's labels, by approach, then by name."""
    first = g.drop_duplicates("label").set_index("label").approach
    return sorted(first.index, key=lambda lab: (_rank(first[lab]), lab))


def _configs(summary: pd.DataFrame, y: str, x: str = "linear_ratio") -> pd.DataFrame:
    """Per configuration: `y` over seeds (mean, low, high, n) at the mean `x` of its runs,
    with its kind of point and whether it is a fixed random-pattern ratio."""
    df = summary.dropna(subset=[x, y])
    table = compare.seed_table(df, y)
    if table.empty:
        return table.assign(x=[], kind=[], random=[])
    keys = ["setting", "label"]
    extra = df.groupby(keys).agg(x=(x, "mean"), pattern=("pattern", "first"))
    table = table.join(extra, on=keys)
    table["kind"] = [_kind(a, p) for a, p in zip(table.approach, table.pattern, strict=True)]
    table["random"] = (table.approach == "fixed") & table.pattern.fillna("random").eq("random")
    return table


def _errors(lo, mean, hi) -> np.ndarray | None:
    """Error bar lengths (2, n) below and above the mean; None without an interval."""
    if lo is None:
        return None
    mean = np.asarray(mean, float)
    return np.vstack([mean - np.asarray(lo, float), np.asarray(hi, float) - mean])


def _mark(ax, kind: str, points: pd.DataFrame, legend: dict, xerr: bool = False) -> None:
    """Points of one kind: filled with their y interval (and x interval with `xerr`) where
    they have one over seeds, hollow without (one seed). Columns x, mean, low, high, n
    (and x_low, x_high)."""
    colour, marker = _look(kind)
    for single, g in points.groupby(points.n < 2):
        ex = _errors(g.x_low, g.x, g.x_high) if xerr else None
        ey = None if single else _errors(g.low, g["mean"], g.high)
        ax.errorbar(
            g.x,
            g["mean"],
            xerr=ex,
            yerr=ey,
            fmt=marker,
            color=colour,
            mfc=HOLLOW if single else colour,
            mew=1.4,
            ms=7,
            capsize=3,
            elinewidth=1.1,
            label=f"{kind}, {ONE_SEED}" if single else kind,
            zorder=4 if single else 3,
        )
        if single:
            legend.setdefault(ONE_SEED, _proxy("o", "grey", HOLLOW))
    legend.setdefault(kind, _proxy(marker, colour, colour))


def _proxy(marker: str, colour, face) -> Line2D:
    return Line2D([], [], ls="none", marker=marker, color=colour, mfc=face, mew=1.4, ms=7)


def _draw_configs(ax, table: pd.DataFrame, legend: dict, xerr: bool = False) -> None:
    for kind in _kind_order(table.kind):
        _mark(ax, kind, table[table.kind == kind], legend, xerr)


def _random_line(ax, table: pd.DataFrame, legend: dict) -> None:
    """The fixed random-pattern ratios joined through their means."""
    fixed = table[table.random].sort_values("x")
    if len(fixed) > 1:
        label = "fixed, random pattern (line through means)"
        (line,) = ax.plot(fixed.x, fixed["mean"], color=PALETTE["fixed"], lw=1.3, label=label)
        legend.setdefault(label, line)


def _legend(fig: Figure, legend: dict, title: str | None) -> None:
    """One legend for the figure, below the panels; the one-seed entry last."""
    if not legend:
        return
    if ONE_SEED in legend:
        legend[ONE_SEED] = legend.pop(ONE_SEED)
    ncol = min(len(legend), max(2, int(fig.get_size_inches()[0] / 2.2)))
    fig.legend(
        list(legend.values()),
        list(legend),
        loc="outside lower center",
        ncol=ncol,
        frameon=False,
        title=title,
        title_fontsize=9,
        fontsize=9,
    )


def _ci_title(ns, what: str = "mean ± 95 % CI over n seeds") -> str:
    n = _n_range(ns)
    return f"{what} ({n})" if n else "one seed each: no intervals"


def _lighter(colour, white: float = 0.55) -> tuple[float, ...]:
    return tuple((1 - white) * np.asarray(colour[:3]) + white)


def _by_setting(
    table: pd.DataFrame,
    title: str,
    empty: str,
    draw: Callable[[Any, pd.DataFrame, dict], None],
    legend_title: str | None = None,
    summary: pd.DataFrame | None = None,
    width: float = 5.6,
) -> Figure:
    """One panel per setting of `table`; `draw(ax, rows of the setting, legend)`."""
    if table.empty:
        return _empty(title, empty)
    _style()
    settings = sorted(table.setting.unique())
    fig, axes = _panels(settings, width)
    legend: dict = {}
    for ax, s in zip(axes, settings, strict=True):
        draw(ax, table[table.setting == s], legend)
        runs = summary[summary.setting == s] if summary is not None else table[:0]
        ax.set_title(_title(s, runs))
    fig.suptitle(title)
    title = legend_title if legend_title is not None else _ci_title(table.n)
    _legend(fig, legend, title)
    return fig


def _against_ratio(
    summary: pd.DataFrame, y: str, ylabel: str, title: str, empty: str, zero_line: bool = False
) -> Figure:
    """`y` against the linear share, one point per configuration."""

    def draw(ax, g: pd.DataFrame, legend: dict) -> None:
        _random_line(ax, g, legend)
        _draw_configs(ax, g, legend)
        if zero_line:
            ax.axhline(0, color="grey", lw=0.8, zorder=1)
        ax.set(xlabel="linear share of activation neurons", ylabel=ylabel, xlim=(-0.05, 1.05))
        ax.margins(y=0.1)

    return _by_setting(_configs(summary, y), title, empty, draw, summary=summary)


def accuracy_vs_ratio(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Test accuracy against the linear share: each configuration's mean ± 95 % CI."""
    return _against_ratio(
        summary, "test_acc", "test accuracy", "Accuracy vs linear ratio", "no trained runs"
    )


def generalisation_gap(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Train − validation accuracy (last epoch) against the linear share, mean ± 95 % CI."""
    return _against_ratio(
        summary,
        "gen_gap",
        "train acc − val acc (last epoch)",
        "Generalisation gap vs linear ratio",
        "no run has train and validation accuracy",
        zero_line=True,
    )


def accuracy_vs_flops(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Test accuracy against Linear/Conv FLOPs; folding is what removes FLOPs."""
    table = _configs(summary, "test_acc", "linear_flops")
    if "folded_flops" in summary:
        pruned = summary[summary.approach == "pruning"]
        folded = pruned.assign(linear_flops=pruned.folded_flops)
        table = pd.concat([table, _configs(folded, "test_acc", "linear_flops").assign(kind=FOLDED)])

    def draw(ax, g: pd.DataFrame, legend: dict) -> None:
        x = g.x.to_numpy(float) / 1e6
        _draw_configs(ax, g.assign(x=_dodge(x, 0.012 * np.nanmax(x))), legend)
        ax.set(
            xlabel="Linear/Conv FLOPs per sample (millions; equal counts spread apart)",
            ylabel="test accuracy",
        )
        ax.margins(x=0.06, y=0.1)

    return _by_setting(
        table,
        "Accuracy vs FLOPs (only folding removes FLOPs)",
        "no run has a FLOP count",
        draw,
        summary=summary,
    )


def _dodge(x: np.ndarray, step: float) -> np.ndarray:
    """Points of equal x spread `step` apart around it, in their order, to be told apart."""
    out = x.copy()
    for idx in pd.Series(np.arange(len(x))).groupby(np.round(x, 6)).groups.values():
        out[idx] += (np.arange(len(idx)) - (len(idx) - 1) / 2) * step
    return out


def nonlinear_units_vs_accuracy(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Test accuracy against the neurons that still apply their nonlinearity."""

    def draw(ax, g: pd.DataFrame, legend: dict) -> None:
        _random_line(ax, g, legend)
        _draw_configs(ax, g, legend)
        ax.set(xlabel="neurons that still apply their nonlinearity", ylabel="test accuracy")
        ax.margins(x=0.05, y=0.1)

    return _by_setting(
        _configs(summary, "test_acc", "nonlinear_units"),
        "Nonlinear units vs accuracy",
        "no run has a nonlinear unit count",
        draw,
        summary=summary,
    )


# --- latency ---------------------------------------------------------------------------


def _pareto(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both (lower x, higher y), by x."""
    order = np.lexsort((-y, x))
    front, best = [], -np.inf
    for i in order:
        if y[i] > best:
            front.append(i)
            best = y[i]
    return np.array(front, dtype=int)


def _latency_points(summary: pd.DataFrame, runs: Mapping) -> tuple[pd.DataFrame, list[str]]:
    """Per configuration (folded models apart) at the largest batch size of its setting:
    time ratio to the same-seed all-ReLU run (x, x_low, x_high) and test accuracy over seeds
    (mean, low, high, n); the all-ReLU configurations at 1 by definition. And stale runs."""
    rounds, stale = compare.latency_rounds(runs, summary[summary.run.isin(list(runs))])
    if rounds.empty:
        return pd.DataFrame(), stale
    lat = compare.latency_table(rounds)
    lat = lat[lat.batch_size == lat.groupby("setting").batch_size.transform("max")]
    acc = compare.seed_table(summary, "test_acc").set_index(["setting", "label"])
    base = summary[compare.is_baseline(summary)][["setting", "label"]].drop_duplicates()
    base_keys = set(base.itertuples(index=False, name=None))
    rows = []
    for r in lat.itertuples():
        label = r.label.removesuffix(" (folded)") if r.folded else r.label
        if (r.setting, label) not in acc.index or (r.setting, r.label) in base_keys:
            continue
        a = acc.loc[(r.setting, label)]
        rows.append(
            {
                "setting": r.setting,
                "label": r.label,
                "kind": FOLDED if r.folded else _kind(r.approach, _pattern(summary, r, label)),
                "x": r.ratio_mean,
                "x_low": r.ratio_low if r.ratio_low is not None else r.ratio_mean,
                "x_high": r.ratio_high if r.ratio_high is not None else r.ratio_mean,
                "batch_size": r.batch_size,
                "device": r.device,
                "threads": r.threads,
                **{k: a[k] for k in ("mean", "low", "high", "n")},
            }
        )
    for setting, label in sorted(base_keys):  # at 1 by definition
        timed = lat[lat.setting == setting]
        if len(timed) and (setting, label) in acc.index:
            a, t = acc.loc[(setting, label)], timed.iloc[0]
            rows.append(
                {
                    "setting": setting,
                    "label": label,
                    "kind": "fixed",
                    **{"x": 1.0, "x_low": 1.0, "x_high": 1.0},
                    **{k: t[k] for k in ("batch_size", "device", "threads")},
                    **{k: a[k] for k in ("mean", "low", "high", "n")},
                }
            )
    return pd.DataFrame(rows), stale


def _pattern(summary: pd.DataFrame, r, label: str) -> Any:
    p = summary[(summary.setting == r.setting) & (summary.label == label)].pattern.dropna()
    return p.iloc[0] if len(p) else None


def latency_vs_accuracy(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Test accuracy (mean ± 95 % CI over seeds) against the time ratio to the same-seed
    all-ReLU run (interleaved rounds, ± 95 % CI), folded models apart; the Pareto frontier
    through the means."""
    title = "Latency vs accuracy, with the Pareto frontier"
    if summary.empty:
        return _empty(title, "no trained runs")
    points, stale = _latency_points(summary, runs or {})
    if points.empty:
        why = NOT_MEASURED
        if stale:
            why += f"\n({_runs(len(stale))} timed against an all-ReLU run since retrained)"
        return _empty(title, why)

    def draw(ax, g: pd.DataFrame, legend: dict) -> None:
        line = ax.axvline(1.0, color="0.35", lw=1, ls=":", zorder=1)
        legend.setdefault("all-ReLU (ratio 1)", line)
        ax.text(
            1.0,
            1.0,
            " all-ReLU",
            transform=ax.get_xaxis_transform(),
            fontsize=8,
            color="0.35",
            ha="left",
            va="top",
        )
        _draw_configs(ax, g, legend, xerr=True)
        front = _pareto(g.x.to_numpy(float), g["mean"].to_numpy(float))
        (line,) = ax.plot(g.x.iloc[front], g["mean"].iloc[front], "k--", lw=1, zorder=2)
        legend.setdefault("Pareto frontier (on the means)", line)
        m = g.iloc[0]
        where = f", {m.device}" if isinstance(m.device, str) else ""
        where += f", {int(m.threads)} threads" if pd.notna(m.threads) else ""
        ax.set(
            xlabel=f"time per batch of {int(m.batch_size)} / same-seed all-ReLU{where}",
            ylabel="test accuracy",
        )
        ax.margins(x=0.1, y=0.1)

    legend_title = (
        f"accuracy: {_ci_title(points.n)}; time ratio: geometric mean ± 95 % CI over "
        f"interleaved rounds\n{CANNOT_TELL}"
    )
    unmeasured = sorted(set(summary.setting) - set(points.setting))
    if unmeasured:
        legend_title += f"\nlatency not measured for {', '.join(unmeasured)}"
    if stale:
        legend_title += (
            f"\n{_runs(len(stale))} left out: timed against an all-ReLU run since retrained"
        )
    return _by_setting(points, title, NOT_MEASURED, draw, legend_title, summary, width=7.0)


# --- curves over epochs ----------------------------------------------------------------


def _band(ax, g: pd.DataFrame, x: str, y: str, colour, label: str) -> int:
    """Mean of `y` over the runs at each `x`, with its 95 % t band where there are two or
    more runs; dashed for one run. Returns the number of runs."""
    n = g.run.nunique()
    iv = g.groupby(x)[y].apply(stats.mean_interval)
    xs = iv.index.to_numpy()
    mean = np.array([i.mean for i in iv])
    ax.plot(xs, mean, color=colour, lw=1.4, ls="-" if n > 1 else "--", label=label)
    if n > 1:
        lo = np.array([np.nan if i.low is None else i.low for i in iv])
        hi = np.array([np.nan if i.high is None else i.high for i in iv])
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.2, lw=0)
    return n


def _epoch_rows(summary: pd.DataFrame, runs: Mapping) -> pd.DataFrame:
    index = summary.set_index("run")
    rows = []
    for run in summary.run:
        s = index.loc[run]
        for r in runs[run]["history"]:
            if isinstance(r.get("epoch"), int) and r.get("val_acc") is not None:
                rows.append(
                    {
                        "run": run,
                        "setting": s.setting,
                        "label": s.label,
                        "approach": s.approach,
                        "epoch": r["epoch"],
                        "val_acc": r["val_acc"],
                    }
                )
    return pd.DataFrame(rows)


def training_curves(summary: pd.DataFrame, runs: Mapping) -> Figure:
    """Validation accuracy per epoch, per configuration: mean over seeds, 95 % band."""
    trained = summary[summary.approach != "pruning"]
    df = _epoch_rows(trained, runs)
    if df.empty:
        return _empty("Training curves", "no run has epoch records")
    _style()
    settings = sorted(df.setting.unique())
    fig, axes = _panels(settings, width=6.4, height=4.0)
    for ax, s in zip(axes, settings, strict=True):
        g = df[df.setting == s]
        labels = _label_order(g)
        colours = sns.color_palette("tab20" if len(labels) > 10 else "tab10", len(labels))
        for lab, colour in zip(labels, colours, strict=True):
            rows = g[g.label == lab]
            _band(ax, rows, "epoch", "val_acc", colour, f"{lab} ({_seeds(rows.run.nunique())})")
        ax.set(
            title=_title(s, summary[summary.setting == s]),
            xlabel="epoch (gated: soft phase, then fine-tune after hardening)",
            ylabel="validation accuracy",
        )
        _int_epochs(ax)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle("Training curves: mean over seeds, shaded 95 % CI; dashed: one seed")
    return fig


def _gated(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary.approach == "gating"]


def gate_dynamics(summary: pd.DataFrame, runs: Mapping) -> Figure:
    """Per gated configuration and layer, over the soft epochs: mean α and the share of
    α below 0.1, each the mean over seeds with a 95 % band."""
    rows = []
    gated = _gated(summary)
    for run, setting, label in zip(gated.run, gated.setting, gated.label, strict=True):
        for r in runs[run]["history"]:
            if r.get("phase") == "train" and isinstance(r.get("epoch"), int):
                for st in r.get("gating") or []:
                    rows.append(
                        {
                            "run": run,
                            "config": (setting, label),
                            "epoch": r["epoch"],
                            "layer": _short(str(st.get("name")), st.get("layer")),
                            "alpha_mean": st["alpha_mean"],
                            "lt": st["alpha_lt_0.1"],
                        }
                    )
    df = pd.DataFrame(rows)
    if df.empty:
        return _empty("Gate dynamics", "no gated runs (kedro run --pipelines=train_gated)")
    _style()
    configs = sorted(df.config.unique())
    fig, axes = _subplots(len(configs), 2, figsize=(11, 3.4 * len(configs)))
    for row, config in zip(axes, configs, strict=True):
        g = df[df.config == config]
        layers = list(dict.fromkeys(g.layer))
        colours = sns.color_palette("viridis", len(layers))
        for layer, colour in zip(layers, colours, strict=True):
            h = g[g.layer == layer]
            n = _band(row[0], h, "epoch", "alpha_mean", colour, layer)
            _band(row[1], h, "epoch", "lt", colour, layer)
        name = f"{config[0]}, {config[1]} ({_seeds(n)})"
        for ax in row:
            _int_epochs(ax)
            ax.set(xlabel="soft-phase epoch", ylim=(-0.02, 1.02))
        row[0].set(title=f"{name}: mean gate α", ylabel="mean α (1 = ReLU, 0 = identity)")
        row[1].set(title=f"{name}: share of α < 0.1", ylabel="share of the layer's neurons")
        row[1].legend(
            fontsize=7,
            title="layer",
            title_fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
        )
    fig.suptitle(
        "Gate dynamics in the soft phase: mean over seeds, shaded 95 % CI; dashed: one seed"
    )
    return fig


def alpha_distributions(summary: pd.DataFrame, runs: Mapping) -> Figure:
    """Per gated configuration and layer, each neuron's gate at the end of the soft phase
    (before hardening), neurons of all seeds pooled; the layer's mean α ± 95 % CI over seeds."""
    rows = []
    gated = _gated(summary)
    for run, setting, label in zip(gated.run, gated.setting, gated.label, strict=True):
        gates = runs[run]["meta"].get("gates_before_hardening") or {}
        for index, (layer, alphas) in enumerate(gates.items()):
            short = _short(layer.removeprefix("head."), index)
            rows += [
                {"run": run, "config": (setting, label), "layer": short, "alpha": a} for a in alphas
            ]
    df = pd.DataFrame(rows)
    if df.empty:
        return _empty("Gate α distributions", "no gated runs with gates recorded before hardening")
    _style()
    configs = sorted(df.config.unique())
    width = max(5.0, 1.4 * df.layer.nunique())
    fig, axes = _subplots(1, len(configs), figsize=(width * len(configs), 4.2))
    legend: dict = {}
    for ax, config in zip(axes[0], configs, strict=True):
        g = df[df.config == config]
        layers = list(dict.fromkeys(g.layer))
        sns.violinplot(
            g,
            x="layer",
            y="alpha",
            order=layers,
            cut=0,
            density_norm="width",
            inner="quartile",
            ax=ax,
            color=_lighter(PALETTE["gating"]),
        )
        per_seed = g.groupby(["layer", "run"]).alpha.mean()
        ivs = [stats.mean_interval(per_seed.loc[layer]) for layer in layers]
        n = g.run.nunique()
        mean = np.array([i.mean for i in ivs])
        ax.errorbar(
            np.arange(len(layers)),
            mean,
            yerr=None if n < 2 else _errors([i.low for i in ivs], mean, [i.high for i in ivs]),
            fmt="D",
            color="k",
            mfc=HOLLOW if n < 2 else "k",
            ms=6,
            capsize=4,
            label=MEAN_ALPHA,
            zorder=4,
        )
        legend.setdefault(MEAN_ALPHA, _proxy("D", "k", "k"))
        if n < 2:
            legend.setdefault(ONE_SEED, _proxy("D", "k", HOLLOW))
        ax.set(
            title=f"{config[0]}, {config[1]} ({_seeds(n)}{', neurons pooled' * (n > 1)})",
            xlabel="layer (in forward order)",
            ylabel="gate α before hardening",
            ylim=(-0.02, 1.02),
        )
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle("Gate α per neuron, by layer (1 = ReLU, 0 = identity)")
    _legend(fig, legend, _ci_title(df.groupby("config").run.nunique()))
    return fig


# --- per-layer shares against the all-ReLU run ------------------------------------------


def _layer_shares(summary: pd.DataFrame, runs: Mapping) -> pd.DataFrame:
    """Per configuration with per-layer shares: each layer's linear share (mean over
    seeds) from the last epoch's gate statistics."""
    rows = {}
    for (setting, label), g in summary.groupby(["setting", "label"]):
        shares = [
            [1 - st["alpha_mean"] for st in (runs[run]["history"][-1].get("gating") or [])]
            for run in g.run
        ]
        shares = [s for s in shares if s]
        if shares and len({len(s) for s in shares}) == 1:
            rows[(setting, label)] = np.mean(shares, axis=0)
    mat = pd.DataFrame.from_dict(rows, orient="index")
    mat.columns = [f"layer {i}" for i in mat.columns]
    return mat


def layer_sensitivity(summary: pd.DataFrame, runs: Mapping) -> Figure:
    """Layer-wise, gated and matched configurations: each layer's linear share (heatmap)
    and the test-accuracy change against the same-seed all-ReLU run, mean ± 95 % CI."""
    chosen = summary[summary.approach.isin(["layerwise", "gating", "matched"])]
    if chosen.empty:
        return _empty("Layer-wise sensitivity", "no layer-wise, gated or matched runs")
    _style()
    settings = sorted(chosen.setting.unique())
    n_rows = chosen.groupby("setting").label.nunique()
    fig, axes = _subplots(
        len(settings),
        2,
        figsize=(11, 0.5 * n_rows.sum() + 2.4 * len(settings)),
        gridspec_kw={"width_ratios": [3, 2]},
    )
    pairs = compare.paired(summary, "test_acc")
    legend: dict = {}
    for (heat_ax, bar_ax), s in zip(axes, settings, strict=True):
        g = chosen[chosen.setting == s]
        mat = _layer_shares(g, runs)
        labels = _label_order(g)
        mat = mat.reindex([(s, lab) for lab in labels])
        mat.index = [f"{lab} ({_seeds(g[g.label == lab].run.nunique())})" for lab in labels]
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
        heat_ax.set(title=f"{_title(s, g)}: linear share per layer", xlabel="", ylabel="")
        _change_bars(bar_ax, g, pairs[pairs.setting == s], labels, legend)
    fig.suptitle("Layer-wise sensitivity: accuracy change against the same-seed all-ReLU run")
    _legend(fig, legend, None)
    return fig


def _change_bars(ax, g: pd.DataFrame, pairs: pd.DataFrame, labels: list[str], legend: dict) -> None:
    """Per label: run − same-seed all-ReLU test accuracy, mean ± 95 % CI over seeds, from
    zero; hollow for one seed. Without any pair, the accuracies themselves, as dots."""
    y = np.arange(len(labels))
    colours = [PALETTE.get(g[g.label == lab].approach.iloc[0], "grey") for lab in labels]
    if pairs.empty:
        values = np.array([g[g.label == lab].test_acc.mean() for lab in labels])
        ax.scatter(values, y, c=colours, marker="o", zorder=3)
        ax.set(title="test accuracy (no same-seed all-ReLU run)", xlabel="test accuracy")
        texts = [f" {v:.4f} " for v in values]
    else:
        ivs = [stats.mean_interval(-pairs[pairs.label == lab]["diff"]) for lab in labels]
        for i, (iv, colour) in enumerate(zip(ivs, colours, strict=True)):
            if iv.n == 0:  # no same-seed all-ReLU run
                continue
            one = iv.n < 2
            face = HOLLOW if one else colour
            ax.barh(i, iv.mean, height=0.5, color=face, edgecolor=colour, lw=1.4)
            if not one:
                err = [[iv.mean - iv.low], [iv.high - iv.mean]]
                ax.errorbar(iv.mean, i, xerr=err, fmt="none", ecolor="k", capsize=3, lw=1)
        if any(iv.n > 1 for iv in ivs):
            legend.setdefault(PAIRED, Patch(facecolor="0.6", edgecolor="0.4"))
        if any(iv.n == 1 for iv in ivs):
            legend.setdefault(ONE_SEED, Patch(facecolor=HOLLOW, edgecolor="0.4"))
        ax.axvline(0, color="k", lw=1)
        ax.set(title="test accuracy − same-seed all-ReLU", xlabel="accuracy change (fraction)")
        ends = [abs(v) for iv in ivs if iv.n for v in (iv.low, iv.high, iv.mean) if v is not None]
        span = max(max(ends, default=0.0), 1e-3)
        ax.set_xlim(-1.7 * span, 1.7 * span)
        texts = [" no all-ReLU pair" if iv.n == 0 else f" {iv.mean:+.4f} " for iv in ivs]
        values = np.array([iv.mean if iv.n else 0.0 for iv in ivs])
    for i, (v, t) in enumerate(zip(values, texts, strict=True)):
        ax.text(v, i + 0.36, t, va="center", ha="left" if v >= 0 else "right", fontsize=7)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # rows in the heatmap's order
    ax.set_yticks(y, [""] * len(y))
    ax.xaxis.set_major_locator(MaxNLocator(5))


def accuracy_under_attack(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Clean accuracy and accuracy under FGSM and PGD against the linear share
    (`robustness.accuracy_under_attack`; imported here, as it draws with this module)."""
    from .robustness import accuracy_under_attack as draw

    return draw(summary, runs)


def accuracy_vs_relu_count(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Test accuracy against the ReLU count per sample, log axis (`relu_counts`; imported
    here, as it draws with this module)."""
    from .relu_counts import accuracy_vs_relu_count as draw

    return draw(summary, runs)


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
    "accuracy_vs_relu_count": accuracy_vs_relu_count,
    "accuracy_under_attack": accuracy_under_attack,
    "neuron_agreement": neuron_agreement,
    "module_kinds": module_kinds,
}
