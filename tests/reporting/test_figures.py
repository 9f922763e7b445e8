"""Figures on hand-made runs: every point a configuration's mean with its 95 % t interval
over seeds, one seed hollow and labelled, latency from interleaved rounds only."""

import math

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from scipy import stats as sps

from nonlinearity.reporting import FIGURES, summary_table
from nonlinearity.reporting.figures import FOLDED, MARKERS, NOT_MEASURED, ONE_SEED, _pareto

BASE = {0: 0.95, 1: 0.96, 2: 0.97}  # all-ReLU test accuracy per seed
FIXED_50 = {0: 0.94, 1: 0.93, 2: 0.96}
GATED = {0: 0.945, 1: 0.95, 2: 0.93}
LAYERWISE = 0.93  # seed 0 only
ROUNDS = 5  # interleaved rounds per run


def t_interval(values):
    x = np.asarray(values, float)
    half = sps.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean() - half, x.mean() + half


def gating(shares):
    return [
        {"layer": i, "name": f"act{i}", "num_features": 8, "alpha_mean": 1 - s}
        | {"alpha_lt_0.1": s, "kind": ("query", "ffn")[i % 2]}  # module kinds: attention.py
        for i, s in enumerate(shares)
    ]


def record(key, approach, seed, acc, ratio, shares=None, **cfg):
    shares = [ratio, ratio] if shares is None else shares
    history = [
        {
            "epoch": e,
            "phase": "train",
            "train_acc": acc + 0.02,
            "val_acc": acc - 0.01 * (3 - e) + 0.001 * seed,
            "gating": gating(shares),
        }
        for e in (1, 2, 3)
    ]
    meta = {
        "status": "complete",
        "fingerprint": f"fp-{key}-{seed}",
        "metrics": {"val_acc": acc, "test_acc": acc, "linear_ratio": ratio},
        "approx_linear_flops": 2000,
        "nonlinear_units": round(16 * (1 - ratio)),
        "nonlinear_evals_per_sample": 36 * round(16 * (1 - ratio)),  # 6x6 positions each
        "config": {
            "dataset": "digits",
            "model": {"name": "mlp"},
            "approach": approach,
            "seed": seed,
            "linear_ratio": ratio if approach == "fixed" else None,
            "pattern": "random" if approach == "fixed" else None,
            "data": {"synthetic": False, "sizes": {"test": 200}},
            **cfg,
        },
    }
    if approach == "gating":
        meta["gates_before_hardening"] = {"act0": [0.1, 0.9, 0.4], "act1": [0.05, 0.2, 0.95]}
    if approach == "pruning":
        meta["folding"] = {"efficiency": {"approx_linear_flops": 900}}
    robustness = {  # robustness.json: accuracy under one attack (reporting/robustness.py)
        "fingerprint": meta["fingerprint"],
        "split": "test",
        "samples": 200,
        "pgd": {"steps": 10},
        "clean_acc": acc,
        "results": [{"attack": "pgd", "epsilon": 0.1, "radius": 0.1, "acc": acc / 2}],
    }
    name = f"digits_mlp_{key}_s{seed}_c00000{seed}"
    return name, {"history": history, "meta": meta, "robustness": robustness}


def time_ratio(run: str, seed: int) -> float:
    """The run's time per round over its same-seed all-ReLU run's (made up, per config)."""
    base = {"fixed_0": 1.0, "fixed_50": 0.9, "fixed_100": 0.8, "gated-base": 0.95}
    key = next((k for k in base if f"_{k}_" in run), None)
    return (base[key] if key else 0.97) * (1 + 0.01 * seed)


def make_runs(seeds=(0, 1, 2), benchmark=True):
    runs = {}
    for s in seeds:
        runs.update([record("fixed_0", "fixed", s, BASE[s], 0.0)])
        runs.update([record("fixed_50", "fixed", s, FIXED_50[s], 0.5)])
        runs.update([record("fixed_100", "fixed", s, 0.90 + 0.01 * s, 1.0)])
        runs.update([record("gated-base", "gating", s, GATED[s], 0.6, [0.4, 0.8], variant="base")])
        src = f"digits_mlp_fixed_50_s{s}_c00000{s}"
        runs.update([record("pruned-fixed_50", "pruning", s, 0.935, 0.55, source_run=src)])
    gated = "digits_mlp_gated-base_s0_c000000"
    runs.update([record("matched-base", "matched", 0, 0.94, 0.6, [0.4, 0.8], source_run=gated)])
    runs.update(
        [record("layerwise-up", "layerwise", 0, LAYERWISE, 0.5, [0.2, 0.8], schedule_name="up")]
    )
    runs[next(iter(runs))]["history"][0]["epoch"] = "setup"  # not an epoch: skipped
    if benchmark:
        for run, rec in runs.items():
            seed = rec["meta"]["config"]["seed"]
            base = f"digits_mlp_fixed_0_s{seed}_c00000{seed}"
            b = [1e-3 * (1 + 0.02 * i) for i in range(ROUNDS)]
            r = time_ratio(run, seed)
            m = {
                "rounds_s": [t * r * (1 + 0.005 * (-1) ** i) for i, t in enumerate(b)],
                "baseline": base,
                "baseline_fingerprint": runs[base]["meta"]["fingerprint"],
                "baseline_rounds_s": b,
                "device": "cpu",
                "threads": 2,
            }
            if "pruned" in run:
                m["folded_rounds_s"] = [0.5 * t for t in b]
            rec["meta"]["benchmark"] = {"interleaved": {"1": m, "256": m}}
    return runs


@pytest.fixture(scope="module")
def three():
    runs = make_runs()
    return summary_table(runs), runs


@pytest.fixture(scope="module")
def one():
    runs = make_runs(seeds=(0,))
    return summary_table(runs), runs


def texts(fig: Figure) -> list[str]:
    out = [t.get_text() for ax in fig.axes for t in ax.texts]
    out += [ax.get_title() for ax in fig.axes]
    for leg in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        if leg:
            out += [t.get_text() for t in leg.get_texts()] + [leg.get_title().get_text()]
    return out


def bars(fig: Figure, label: str) -> ErrorbarContainer:
    (c,) = [c for ax in fig.axes for c in ax.containers if c.get_label() == label]
    return c


def y_intervals(c: ErrorbarContainer) -> list[tuple[float, float]]:
    """(low, high) of each vertical error bar of a container."""
    segments = c.lines[2][-1].get_segments()
    return sorted((float(s[0][1]), float(s[1][1])) for s in segments)


@pytest.mark.parametrize("case", ["three", "one"])
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_figure_draws_data(request, case, name):
    summary, runs = request.getfixturevalue(case)
    fig = FIGURES[name](summary, runs)
    assert isinstance(fig, Figure)
    drawn = [
        ax
        for ax in fig.axes
        if ax.get_visible() and (ax.lines or ax.collections or ax.patches or ax.images)
    ]
    assert drawn, f"{name}: no axis shows data"
    assert fig.get_suptitle()
    for ax in drawn:
        if ax.get_xlabel():
            assert ax.get_ylabel() or ax.get_yticklabels(), name
    fig.canvas.draw()  # lays out: legends, labels and titles fit


@pytest.mark.parametrize(
    "name",
    ["accuracy_vs_ratio", "accuracy_vs_flops", "nonlinear_units_vs_accuracy"],
)
def test_error_bars_are_the_t_interval_over_seeds(three, name):
    fig = FIGURES[name](*three)
    fixed = y_intervals(bars(fig, "fixed"))
    expected = t_interval(list(FIXED_50.values()))
    assert any(np.allclose(iv, expected) for iv in fixed), (fixed, expected)
    gated = y_intervals(bars(fig, "gating"))
    assert np.allclose(gated, [t_interval(list(GATED.values()))])
    assert "mean ± 95 % CI over n seeds (n = 3)" in texts(fig)


def test_fixed_ratios_are_a_line_through_the_means(three):
    fig = FIGURES["accuracy_vs_ratio"](*three)
    (line,) = [ln for ln in fig.axes[0].lines if ln.get_label().startswith("fixed, random")]
    assert np.allclose(line.get_xdata(), [0, 0.5, 1])
    assert np.allclose(line.get_ydata()[1], np.mean(list(FIXED_50.values())))


def test_one_seed_is_hollow_without_an_interval(three, one):
    fig = FIGURES["accuracy_vs_ratio"](*three)
    c = bars(fig, f"layerwise, {ONE_SEED}")
    assert not c.has_yerr and c.lines[0].get_markerfacecolor() == "white"
    assert c.lines[0].get_ydata()[0] == pytest.approx(LAYERWISE)
    assert ONE_SEED in texts(fig)
    matched = bars(fig, f"matched, {ONE_SEED}").lines[0]
    assert matched.get_marker() == MARKERS["matched"] and "matched" in texts(fig)
    fig = FIGURES["accuracy_vs_ratio"](*one)
    containers = [c for ax in fig.axes for c in ax.containers]
    assert containers and not any(c.has_yerr for c in containers)
    assert ONE_SEED in texts(fig) and "one seed each: no intervals" in texts(fig)


def test_latency_is_the_interleaved_ratio_to_the_same_seed_all_relu(three):
    summary, runs = three
    fig = FIGURES["latency_vs_accuracy"](summary, runs)
    # fixed 50 %: every round of every seed t_i / b_i, geometric mean and t interval on logs
    logs = np.log([time_ratio("_fixed_50_", s) * (1 + 0.005 * (-1) ** i)
                   for s in (0, 1, 2) for i in range(ROUNDS)])  # fmt: skip
    low, high = np.exp(t_interval(logs))
    fixed = bars(fig, "fixed")
    xs = fixed.lines[0].get_xdata()
    assert 1.0 in xs  # all-ReLU at 1 by definition
    assert np.exp(logs.mean()) == pytest.approx(sorted(xs)[1])
    segments = [s for s in fixed.lines[2][0].get_segments()]  # horizontal: x error bars
    assert any(np.allclose([s[0][0], s[1][0]], [low, high]) for s in segments)
    folded = bars(fig, FOLDED)
    assert folded.lines[0].get_xdata()[0] == pytest.approx(0.5)
    words = " ".join(texts(fig))
    assert "all-ReLU" in words and "overlapping intervals cannot be told apart" in words
    assert "256" in fig.axes[0].get_xlabel()  # the largest batch size


def test_latency_not_measured_says_so(three):
    summary, _ = three
    runs = make_runs(benchmark=False)
    fig = FIGURES["latency_vs_accuracy"](summary_table(runs), runs)
    assert NOT_MEASURED in texts(fig) and "latency not measured" in NOT_MEASURED
    assert FIGURES["latency_vs_accuracy"](summary, None).axes[0].texts


def test_latency_says_which_settings_and_runs_it_leaves_out():
    runs = make_runs(seeds=(0, 1))
    other = {k.replace("digits", "wine"): v for k, v in make_runs(benchmark=False).items()}
    for rec in other.values():
        rec["meta"]["config"]["dataset"] = "wine"
    runs |= other
    stale = runs["digits_mlp_fixed_50_s1_c000001"]["meta"]["benchmark"]["interleaved"]
    stale["256"] = {**stale["256"], "baseline_fingerprint": "an older all-ReLU run"}
    fig = FIGURES["latency_vs_accuracy"](summary_table(runs), runs)
    title = fig.legends[0].get_title().get_text()
    assert "latency not measured for wine · mlp" in title
    assert "1 run left out: timed against an all-ReLU run since retrained" in title
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["digits · mlp"]


def test_training_curves_mean_with_a_band(three):
    fig = FIGURES["training_curves"](*three)
    ax = fig.axes[0]
    (line,) = [ln for ln in ax.lines if ln.get_label() == "fixed 50% (3 seeds)"]
    # val_acc at epoch 3: acc + 0.001·seed, mean over seeds
    assert line.get_ydata()[-1] == pytest.approx(np.mean(list(FIXED_50.values())) + 0.001)
    assert any(isinstance(c, PolyCollection) for c in ax.collections)
    (single,) = [ln for ln in ax.lines if ln.get_label() == "layerwise up (1 seed)"]
    assert single.get_linestyle() == "--"


def test_gate_figures_over_seeds(three, one):
    fig = FIGURES["gate_dynamics"](*three)
    assert any("(3 seeds)" in t for t in texts(fig))
    assert any(isinstance(c, PolyCollection) for c in fig.axes[0].collections)
    assert any("(1 seed)" in t for t in texts(FIGURES["gate_dynamics"](*one)))
    fig = FIGURES["alpha_distributions"](*three)
    assert any("3 seeds" in t for t in texts(fig))


def test_layer_sensitivity_is_paired_with_the_same_seed_all_relu(three):
    fig = FIGURES["layer_sensitivity"](*three)
    ax = fig.axes[1]
    widths = [p.get_width() for p in ax.patches]
    # rows: layerwise, gated, matched; layerwise (seed 0) against seed 0's all-ReLU only
    assert widths[0] == pytest.approx(LAYERWISE - BASE[0])
    diffs = [GATED[s] - BASE[s] for s in (0, 1, 2)]
    assert widths[1] == pytest.approx(np.mean(diffs))
    segments = [s for c in ax.containers if isinstance(c, ErrorbarContainer)
                for s in c.lines[2][0].get_segments()]  # fmt: skip
    assert any(np.allclose([s[0][0], s[1][0]], t_interval(diffs)) for s in segments)
    assert ax.patches[0].get_facecolor()[:3] == (1.0, 1.0, 1.0)  # one seed: hollow


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figures_without_runs_say_so(name):
    fig = FIGURES[name](summary_table({}), {})
    assert any(t.startswith("no ") for t in texts(fig)), name


def test_pareto_front():
    x = np.array([1.0, 2.0, 3.0, 1.5, 2.5])
    y = np.array([0.9, 0.95, 0.97, 0.85, 0.94])
    assert _pareto(x, y).tolist() == [0, 1, 2]
