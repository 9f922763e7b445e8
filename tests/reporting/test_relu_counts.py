"""Accuracy beside the ReLU count per sample: the figure (log axis, t intervals, the
all-ReLU point) and the report's table, on the hand-made sweep of test_figures."""

import numpy as np
import pytest

from nonlinearity.reporting import FIGURES, summary_table
from nonlinearity.reporting.relu_counts import ALL_RELU, relu_count_table, report_section
from tests.reporting.test_figures import BASE, FIXED_50, bars, make_runs, t_interval, texts


@pytest.fixture(scope="module")
def three():
    runs = make_runs()
    return summary_table(runs), runs


def test_summary_reads_the_count_from_meta(three):
    summary, runs = three
    row = summary.set_index("run").loc["digits_mlp_fixed_50_s1_c000001"]
    assert (
        row.relu_count
        == runs["digits_mlp_fixed_50_s1_c000001"]["meta"]["nonlinear_evals_per_sample"]
    )
    assert row.relu_count == 36 * 8


def test_figure_log_axis_intervals_and_the_all_relu_point(three):
    fig = FIGURES["accuracy_vs_relu_count"](*three)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    fixed = bars(fig, "fixed")
    x = sorted(fixed.lines[0].get_xdata())
    assert x == [36 * 8, 36 * 16]  # fixed 100 % has no ReLU: off the log axis
    lows_highs = [tuple(s[:, 1]) for s in fixed.lines[2][-1].get_segments()]
    assert any(np.allclose(iv, t_interval(list(FIXED_50.values()))) for iv in lows_highs)
    (ring,) = [
        line for line in ax.lines if line.get_marker() == "o" and line.get_markersize() == 15
    ]
    assert ring.get_xdata()[0] == 36 * 16
    assert ring.get_ydata()[0] == pytest.approx(np.mean(list(BASE.values())))
    shown = texts(fig)
    assert ALL_RELU in shown and " all-ReLU: 576" in shown
    assert any("left off the log axis (no ReLU left): fixed 100%" in t for t in shown)


def test_table_and_report_section(three):
    summary, _ = three
    table = relu_count_table(summary).set_index("label")
    assert table.loc["fixed 50%", "relu_count"] == 288
    assert table.loc["fixed 50%", "of_all_relu"] == 0.5
    lo, hi = t_interval(list(FIXED_50.values()))
    assert table.loc["fixed 50%", ["acc_low", "acc_high"]].tolist() == pytest.approx([lo, hi])
    lines = report_section(summary)
    assert "| digits · mlp | fixed 50% | 288 | 50.0 % | 94.33 % [" in "\n".join(lines)
    assert "_No run has a ReLU count" in report_section(summary_table({}))[2]
