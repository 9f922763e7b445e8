"""Accuracy under attack in the report, on hand-made runs with known answers: paired against
the same-seed all-ReLU run over seeds, worded only where the interval excludes 0."""

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from scipy import stats as sps

from nonlinearity.reporting import FIGURES, build_report, findings, layer_rows, summary_table
from nonlinearity.reporting.robustness import (
    CANNOT_TELL,
    attack_rows,
    report_section,
    robustness_claims,
    robustness_table,
)

CLEAN = {0: 0.95, 1: 0.96, 2: 0.97}
# accuracy under PGD ε=0.125 per linear ratio and seed: 50 % clearly above all-ReLU,
# 100 % clearly below, 25 % within noise
PGD = {
    0.0: {0: 0.30, 1: 0.32, 2: 0.31},
    0.25: {0: 0.31, 1: 0.30, 2: 0.33},
    0.5: {0: 0.40, 1: 0.41, 2: 0.43},
    1.0: {0: 0.20, 1: 0.21, 2: 0.19},
}


def _run(ratio: float, seed: int, robust: bool = True, fingerprint: str | None = None):
    name = f"digits_mlp_fixed_{round(100 * ratio)}_s{seed}_c0000{seed}"
    meta = {
        "status": "complete",
        "fingerprint": f"fp-{ratio}-{seed}",
        "metrics": {"test_acc": CLEAN[seed], "val_acc": CLEAN[seed], "linear_ratio": ratio},
        "config": {
            "dataset": "digits",
            "model": {"name": "mlp"},
            "approach": "fixed",
            "seed": seed,
            "linear_ratio": ratio,
            "pattern": "random",
            "data": {"sizes": {"test": 360}},
        },
    }
    rec = {"history": [{"epoch": 1, "train_acc": 0.99, "val_acc": 0.96}], "meta": meta}
    if robust:
        pgd = PGD[ratio][seed]
        rec["robustness"] = {
            "run_name": name,
            "fingerprint": fingerprint or meta["fingerprint"],
            "input": "image",
            "split": "test",
            "samples": 360,
            "pgd": {"steps": 10, "step_size": 0.25, "random_start": True},
            "epsilon_unit": "share of the full pixel intensity",
            "clean_acc": CLEAN[seed],
            "results": [
                {"attack": "fgsm", "epsilon": 0.125, "radius": 0.125, "acc": pgd + 0.05},
                {"attack": "pgd", "epsilon": 0.125, "radius": 0.125, "acc": pgd},
            ],
        }
    return name, rec


def _runs(**kw):
    return dict(_run(r, s, **kw) for r in PGD for s in CLEAN)


def _t(values):
    x = np.asarray(values, float)
    half = sps.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean(), x.mean() - half, x.mean() + half


def test_the_change_is_paired_by_seed_with_its_t_interval():
    runs = _runs()
    table = robustness_table(summary_table(runs), runs)
    assert set(table.condition) == {"clean", "FGSM ε=0.125", "PGD-10 ε=0.125"}
    for ratio, verdict in ((0.25, "no measurable difference"), (0.5, "higher"), (1.0, "lower")):
        row = table[(table.condition == "PGD-10 ε=0.125") & np.isclose(table.linear_ratio, ratio)]
        row = row.iloc[0]
        mean, low, high = _t([PGD[ratio][s] - PGD[0.0][s] for s in CLEAN])
        assert (row.change_mean, row.change_low, row.change_high) == pytest.approx(
            (mean, low, high)
        )
        assert row.acc_mean == pytest.approx(np.mean(list(PGD[ratio].values())))
        assert row.verdict == verdict and row.acc_n == 3
        kept = _t([(PGD[ratio][s] - PGD[0.0][s]) / CLEAN[s] for s in CLEAN])
        assert (row.kept_change_mean, row.kept_change_low) == pytest.approx(kept[:2])
    clean = table[(table.condition == "clean") & np.isclose(table.linear_ratio, 0.5)].iloc[0]
    assert clean.change_mean == pytest.approx(0.0) and clean.acc_mean == pytest.approx(0.96)


def test_the_sentence_says_more_and_less_robust_only_where_the_interval_does():
    runs = _runs()
    (claim,) = robustness_claims(robustness_table(summary_table(runs), runs))
    assert claim["kind"] == "robustness" and claim["verdict"] == "mixed"
    s = claim["sentence"]
    assert s.startswith("**digits · mlp**: under PGD-10 ε=0.125, removing nonlinearity makes")
    assert "25 % linear +0.33 pp" in s and "the data cannot tell)" in s
    assert "50 % linear +10.33 pp" in s and "more robust)" in s
    assert "100 % linear −11.00 pp" in s and "less robust)" in s
    # only the shares where it is less robust: the claim says so
    less = {k: v for k, v in runs.items() if "_fixed_50_" not in k}
    (claim,) = robustness_claims(robustness_table(summary_table(less), less))
    assert claim["verdict"] == "less robust"
    assert "removing nonlinearity makes the model less robust:" in claim["sentence"]
    one = {k: v for k, v in runs.items() if k.endswith("_s0_c00000")}  # one seed: no interval
    (claim,) = robustness_claims(robustness_table(summary_table(one), one))
    assert claim["verdict"] == CANNOT_TELL and "one seed, no interval" in claim["sentence"]


def test_runs_without_a_current_robustness_file_are_left_out():
    runs = _runs()
    runs.update(dict([_run(0.5, 0, fingerprint="fp-of-an-older-record")]))
    runs.update(dict([_run(0.25, 1, robust=False)]))
    rows = attack_rows(summary_table(runs), runs)
    assert "digits_mlp_fixed_50_s0_c00000" not in set(rows.run)
    assert "digits_mlp_fixed_25_s1_c00001" not in set(rows.run)
    assert len(rows) == 3 * (12 - 2)


def claim_of(f) -> str:
    return next(c["sentence"] for c in f["claims"] if c["kind"] == "robustness")


def test_findings_report_and_figure():
    runs = _runs()
    summary = summary_table(runs)
    f = findings(summary, layer_rows(runs), runs)
    assert [c["kind"] for c in f["claims"]].count("robustness") == 1
    assert len(f["robustness"]) == 4 * 3  # 4 configurations x 3 conditions
    section = "\n".join(report_section(f))
    assert "| configuration | linear share | clean | FGSM ε=0.125 | PGD-10 ε=0.125 |" in section
    assert "| fixed 50% | 50 % | 96.0 % (+0.0 [+0.0, +0.0]) | " in section
    fig = FIGURES["accuracy_under_attack"](summary, runs)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 3 and ax.get_title() == "digits · mlp"  # one per condition
    segments = [seg for b in bars for seg in b.lines[2][0].get_segments()]
    assert len(segments) == 4 * 3  # every configuration under every condition, with its CI
    _, low, high = _t(list(PGD[0.5].values()))
    assert any(np.allclose(seg, [[0.5, low], [0.5, high]]) for seg in segments)
    report = build_report(f, summary, pd.DataFrame(), pd.DataFrame(), layer_rows(runs))
    assert "![Accuracy under attack vs linear share](figures/accuracy_under_attack.png)" in report
    assert section in report and claim_of(f) in report


def test_a_report_without_attacked_runs_says_how_to_attack_them():
    runs = _runs(robust=False)
    summary = summary_table(runs)
    f = findings(summary, layer_rows(runs), runs)
    assert f["robustness"] == [] and all(c["kind"] != "robustness" for c in f["claims"])
    assert "_No run was attacked: run `kedro run --pipelines=robustness`._" in report_section(f)
    fig = FIGURES["accuracy_under_attack"](summary, runs)
    assert "kedro run --pipelines=robustness" in fig.axes[0].texts[0].get_text()
