"""Reporting on hand-made run records: loading, summary, findings, figures, report."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from nonlinearity.reporting import (
    FIGURES,
    build_report,
    collect_runs,
    cross_architecture,
    efficiency_ranking,
    findings,
    layer_rows,
    summary_table,
)
from nonlinearity.reporting.figures import _pareto


def gating(alphas, names=("act0", "act1")):
    return [
        {"layer": i, "name": n, "num_features": 10, "alpha_mean": a, "alpha_lt_0.1": 1 - a}
        for i, (n, a) in enumerate(zip(names, alphas, strict=True))
    ]


def run(approach, acc, ratio, seed=0, latency=1.0, gated_soft=None, **cfg):
    history = [
        {
            "epoch": 1,
            "phase": "train",
            "train_acc": acc,
            "train_loss": 0.5,
            "val_acc": acc - 0.01,
            "val_loss": 0.6,
            "gating": gating(gated_soft or [1 - ratio, 1 - ratio]),
        },
    ]
    if approach == "gating":
        history.append(
            {
                "epoch": "hardened",
                "phase": "hardened",
                "val_acc": acc,
                "linear_ratio": ratio,
                "gating": gating([1 - ratio, 1 - ratio]),
            }
        )
    meta = {
        "metrics": {"val_acc": acc - 0.01, "test_acc": acc, "linear_ratio": ratio},
        "latency": {
            "mean_latency_s": latency / 1e3,
            "p50_latency_s": latency / 1e3,
            "p90_latency_s": latency / 1e3,
            "batch_size": 256,
            "samples_per_second": 1,
        },
        "approx_linear_flops": 1000,
        "nonlinear_units": round(20 * (1 - ratio)),
        "config": {
            "dataset": "digits",
            "model": {"name": "mlp"},
            "approach": approach,
            "seed": seed,
            "linear_ratio": ratio if approach == "fixed" else None,
            "pattern": "random",
            "data": {"synthetic": False},
            **cfg,
        },
    }
    return {"history": history, "meta": meta}


@pytest.fixture
def records():
    r = {}
    for seed, accs in enumerate([(0.97, 0.968, 0.95), (0.96, 0.962, 0.93)]):
        for ratio, acc in zip((0.0, 0.5, 0.75), accs, strict=True):
            r[f"digits_mlp_fixed_{round(100 * ratio)}_s{seed}"] = run(
                "fixed", acc, ratio, seed, latency=2.0 - ratio
            )
    r["digits_mlp_gated-base_s0"] = run(
        "gating", 0.95, 0.6, latency=2.0, gated_soft=[0.8, 0.2], variant="base"
    )
    r["digits_mlp_layerwise-up_s0"] = run("layerwise", 0.94, 0.5, latency=2.0, schedule_name="up")
    return r


def test_collect_skips_broken_runs_with_a_warning(caplog):
    def bad():
        raise json.JSONDecodeError("Expecting value", "", 0)

    parts = {
        "ok/history": lambda: [{"epoch": 1}],
        "ok/meta": lambda: {"config": {}},
        "ok/activation_stats": bad,
        "broken/history": lambda: [],
        "broken/meta": bad,
        "lonely/meta": lambda: {},
    }
    with caplog.at_level(logging.WARNING):
        runs = collect_runs(parts)
    assert list(runs) == ["ok"] and "activation_stats" not in runs["ok"]
    text = caplog.text
    assert "broken/meta.json" in text and "ok/activation_stats.json" in text
    assert "lonely/history.json" in text


def test_summary_rows(records):
    s = summary_table(records).set_index("run")
    assert len(s) == 8
    g = s.loc["digits_mlp_gated-base_s0"]
    assert g.soft_linear_ratio == pytest.approx(0.5)  # 1 - mean(0.8, 0.2)
    assert g.linear_ratio == 0.6 and g.epochs == 1  # "hardened" is not an epoch
    assert s.loc["digits_mlp_fixed_50_s1"].nominal_ratio == 0.5
    assert s.loc["digits_mlp_fixed_0_s0"].gen_gap == pytest.approx(0.01)
    assert s.loc["digits_mlp_fixed_0_s0"].latency_p50_ms == pytest.approx(2.0)
    assert s.label.tolist().count("fixed 50%") == 2


def test_cross_architecture_and_ranking(records):
    s = summary_table(records)
    cross = cross_architecture(s).iloc[0]
    assert cross.baseline_acc == pytest.approx(0.965) and cross.seeds == 2
    assert cross.drop_50 == pytest.approx(0.965 - 0.965)
    assert cross.drop_75 == pytest.approx(0.965 - 0.94)
    assert np.isnan(cross.drop_25) and cross.gated_effective_ratio == 0.6
    rank = efficiency_ranking(s)
    assert rank.iloc[0].run.startswith("digits_mlp_fixed_75")  # 0.95 / 1.25 ms is best
    assert rank["rank"].tolist() == list(range(1, 9))


def test_findings_smallest_share_within_tolerance(records):
    s = summary_table(records)
    f = findings(s, layer_rows(records), records, tolerance=0.01)["settings"]["digits · mlp"]
    best = f["smallest_nonlinear_share"]
    assert best["config"] == "fixed 50%" and best["nonlinear_share"] == pytest.approx(0.5)
    assert (best["acc_min"], best["acc_max"], best["seeds"]) == (0.962, 0.968, 2)
    assert f["latency_at_50"]["speedup"] == pytest.approx(2.0 / 1.5)
    assert f["gated_layers"]["digits_mlp_gated-base_s0"]["linear_share_per_layer"] == [0.6, 0.6]
    assert f["gen_gap_trend"]["slope_per_unit_ratio"] == pytest.approx(0.0, abs=1e-9)
    looser = findings(s, layer_rows(records), records, tolerance=0.05)["settings"]["digits · mlp"]
    assert looser["smallest_nonlinear_share"]["config"] == "fixed 75%"


def test_pareto_front():
    x = np.array([1.0, 2.0, 3.0, 1.5, 2.5])
    y = np.array([0.9, 0.95, 0.97, 0.85, 0.94])
    assert _pareto(x, y).tolist() == [0, 1, 2]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_figure_draws_data(records, name):
    records["digits_mlp_gated-base_s0"]["meta"]["gates_before_hardening"] = {
        "act0": [0.1, 0.9, 0.5],
        "act1": [0.05, 0.2, 0.95],
    }
    fig = FIGURES[name](summary_table(records), records)
    assert isinstance(fig, Figure)
    drawn = [
        ax
        for ax in fig.axes
        if ax.get_visible() and (ax.lines or ax.collections or ax.patches or ax.images)
    ]
    assert drawn, f"{name}: no axis shows data"
    for ax in drawn:
        if ax.get_xlabel():
            assert ax.get_ylabel() or ax.get_yticklabels(), name


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figures_without_runs_say_so(name):
    fig = FIGURES[name](summary_table({}), {})
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(t.startswith("no ") for t in texts), name


def test_report_is_filled_from_the_data(records):
    s = summary_table(records)
    layers = pd.DataFrame()
    f = findings(s, layers, records)
    text = build_report(f, s, cross_architecture(s), efficiency_ranking(s), layers)
    assert "50.0 % of the activation neurons nonlinear (fixed 50%)" in text
    assert "seeds 96.20 %–96.80 %" in text
    assert "![Accuracy vs linear ratio](figures/accuracy_vs_ratio.png)" in text
    for heading in (
        "Executive summary",
        "Methods",
        "Results",
        "Cross-domain",
        "Interpretation",
        "Limitations",
        "Future work",
    ):
        assert heading in text


def test_pruned_runs_against_fixed_and_folded_latency(records):
    pruned = run("pruning", 0.955, 0.45, latency=1.6, source_run="digits_mlp_fixed_0_s0_c0a1b2c")
    pruned["meta"]["folding"] = {"efficiency": {"latency": {"p50_latency_s": 0.8e-3}}}
    records["digits_mlp_pruned-fixed_0_s0_s0"] = pruned
    s = summary_table(records)
    row = s.set_index("run").loc["digits_mlp_pruned-fixed_0_s0_s0"]
    assert row.label == "pruned fixed_0" and row.folded_latency_p50_ms == pytest.approx(0.8)
    f = findings(s, pd.DataFrame(), records)["settings"]["digits · mlp"]
    (c,) = f["pruning_vs_fixed"]
    # nearest fixed ratio is 50 %, averaged over its two seeds
    assert (c["fixed_ratio"], c["fixed_seeds"]) == (0.5, 2)
    assert c["fixed_test_acc"] == pytest.approx((0.968 + 0.962) / 2)
    folded = f["latency_at_50"]["folded"]
    assert folded["speedup"] == pytest.approx(2.0) and folded["run"].startswith("digits_mlp_pruned")
    text = build_report(
        findings(s, pd.DataFrame(), records),
        s,
        cross_architecture(s),
        efficiency_ranking(s),
        pd.DataFrame(),
    )
    assert "45 % linear after pruning digits_mlp_fixed_0_s0" in text
    assert "−1.00 % against fixed 50 % linear from the start (96.50 %, mean of 2 seeds)" in text
    assert "takes 0.800 ms against 1.600 ms unfolded" in text
    assert "(1.33×): the mixed model is 1.33× as fast" in text


def test_layer_sensitivity_is_relative_to_all_relu(records):
    fig = FIGURES["layer_sensitivity"](summary_table(records), records)
    bars = fig.axes[1].patches
    # layerwise 0.94 against the seed mean of fixed 0 % (0.97, 0.96): one bar of -0.025 from zero
    assert [round(b.get_width(), 6) for b in bars] == [-0.025]
    del records["digits_mlp_fixed_0_s0"], records["digits_mlp_fixed_0_s1"]
    fig = FIGURES["layer_sensitivity"](summary_table(records), records)
    assert not fig.axes[1].patches and fig.axes[1].lines  # no baseline: accuracies as dots


def _gated(l1, seed, dataset="digits", epochs=2):
    history = [{"epoch": 1, "train_acc": 0.9, "val_acc": 0.9, "gating": []}]
    settings = {
        "dataset": dataset,
        "data": {"split_seed": 0},
        "model": {"name": "mlp"},
        "training": {"epochs": epochs},
        "run": {"approach": "gating", "seed": seed, "variant": "base"},
        "gating": {"l1": l1},
    }
    config = {"dataset": dataset, "model": {"name": "mlp"}, "approach": "gating"}
    meta = {
        "status": "complete",
        "metrics": {"test_acc": 0.9, "val_acc": 0.9, "linear_ratio": 0.5},
        "settings": settings,
        "config": {**config, "variant": "base", "seed": seed},
    }
    return {"history": history, "meta": meta}


def test_runs_of_other_settings_are_never_averaged():
    """Seeds of one label must share every setting; settings of one data set and model
    must share data, model and training: otherwise they are reported apart, labelled."""
    s = summary_table(
        {
            "a": _gated(0.5, 0),
            "b": _gated(0.5, 1),
            "c": _gated(2.0, 0),  # another gate variant under the same name
            "d": _gated(0.5, 0, "breast_cancer"),  # another data set: its own setting
            "e": _gated(0.5, 0, epochs=8),  # other training: another setting
        }
    ).set_index("run")
    assert s.loc["a", "label"] == s.loc["b", "label"] == "gated base [gating.l1=0.5]"
    assert s.loc["c", "label"] == "gated base [gating.l1=2.0]"
    assert s.loc["d", "label"] == "gated base" and s.loc["d", "setting"] == "breast_cancer · mlp"
    assert s.loc["a", "setting"] == "digits · mlp [training.epochs=2]"
    assert s.loc["e", "setting"] == "digits · mlp [training.epochs=8]"
    assert s.loc["e", "label"] == "gated base"
