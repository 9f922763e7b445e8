"""Which module kinds gating keeps nonlinear: shares per kind, intervals, verdicts, figure."""

import math

import pandas as pd
import pytest
from scipy import stats as sps

from nonlinearity.reporting import FIGURES
from nonlinearity.reporting.attention import kind_findings, kind_shares, section
from nonlinearity.reporting.report import FIGURE_TITLES


def _layer(kind: str, width: int, nonlinear: int) -> dict:
    return {
        "name": f"x.{kind}",
        "kind": kind,
        "num_features": width,
        "alpha_mean": nonlinear / width,
    }


def _runs(ffn: list[int], query: list[int], value: list[int]) -> tuple[pd.DataFrame, dict]:
    """Gated runs, one per seed: two layers of query (8), value (8) and ffn (16) sites whose
    hardened masks keep the given numbers of channels nonlinear (per layer, both layers)."""
    rows, runs = [], {}
    for seed, (f, q, v) in enumerate(zip(ffn, query, value, strict=True)):
        name = f"s_transformer_gated-base_s{seed}"
        layers = [_layer("query", 8, q), _layer("value", 8, v), _layer("ffn", 16, f)] * 2
        history = [
            {"epoch": 1, "phase": "train", "gating": [{**s, "alpha_mean": 0.5} for s in layers]},
            {"epoch": "hardened", "phase": "hardened", "gating": layers},
        ]
        runs[name] = {"history": history, "meta": {}}
        rows.append({"setting": "s", "label": "gated base", "run": name, "seed": seed})
    return pd.DataFrame(rows).assign(approach="gating"), runs


def test_share_per_kind_is_the_hardened_nonlinear_share_of_its_channels():
    summary, runs = _runs(ffn=[12, 8, 10], query=[0, 0, 0], value=[2, 4, 3])
    shares = kind_shares(summary, runs)
    got = shares.set_index(["seed", "kind"]).nonlinear_share
    assert got[(0, "ffn")] == 12 / 16 and got[(1, "value")] == 4 / 8 and got[(2, "query")] == 0
    assert set(shares.num_features) == {16, 32}  # two layers per kind


def test_verdicts_with_intervals_over_seeds():
    summary, runs = _runs(ffn=[12, 13, 12], query=[0, 0, 0], value=[2, 4, 3])
    found = {r["kind"]: r for r in kind_findings(summary, runs)}
    assert list(found) == ["query", "value", "ffn"]
    assert found["query"]["verdict"] == "all linear"
    value = [2 / 8, 4 / 8, 3 / 8]
    half = sps.t.ppf(0.975, 2) * pd.Series(value).std() / math.sqrt(3)
    assert found["value"]["share"]["low"] == pytest.approx(3 / 8 - half)
    assert found["value"]["verdict"] == "kept nonlinear"  # 0.375 ± 0.31 stays above 0
    d = [v - f / 16 for v, f in zip(value, [12, 13, 12], strict=True)]  # paired per seed
    assert found["value"]["vs_ffn"]["mean"] == pytest.approx(sum(d) / 3)
    assert found["value"]["vs_ffn"]["verdict"] == "less nonlinear"
    assert found["ffn"]["vs_ffn"] is None
    assert "95 % CI" in found["value"]["sentence"]


def test_one_seed_cannot_tell_and_wide_intervals_cannot_tell():
    summary, runs = _runs(ffn=[12], query=[1], value=[0])
    found = {r["kind"]: r for r in kind_findings(summary, runs)}
    assert found["query"]["verdict"] == "cannot tell" and found["query"]["share"]["low"] is None
    assert "cannot tell" in found["query"]["sentence"]
    summary, runs = _runs(ffn=[12, 12], query=[0, 4], value=[0, 0])
    found = {r["kind"]: r for r in kind_findings(summary, runs)}
    assert found["query"]["verdict"] == "cannot tell"  # 0 and 0.5: the interval reaches below 0
    assert found["query"]["vs_ffn"]["verdict"] == "cannot tell"


def test_runs_without_attention_sites_give_no_section_and_an_empty_figure():
    summary, runs = _runs(ffn=[12, 8], query=[0, 0], value=[1, 1])
    for r in runs.values():  # FFN sites only
        for record in r["history"]:
            record["gating"] = [s for s in record["gating"] if s["kind"] == "ffn"]
    assert set(kind_shares(summary, runs).kind) == {"ffn"}
    assert kind_findings(summary, runs) == [] and section({"module_kinds": []}) == []
    fig = FIGURES["module_kinds"](summary, runs)
    assert "no gated runs with attention sites" in fig.axes[0].texts[0].get_text()


def test_figure_and_section_show_every_kind():
    summary, runs = _runs(ffn=[12, 8, 10], query=[0, 0, 0], value=[2, 4, 3])
    fig = FIGURES["module_kinds"](summary, runs)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["query", "value", "ffn"]
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.0, 3 / 8, 10 / 16])
    assert "module_kinds" in FIGURE_TITLES
    text = "\n".join(section({"module_kinds": kind_findings(summary, runs)}))
    assert "| s | gated base | value | 37.5 % |" in text and "all linear" in text


def test_a_gated_sweep_alone_gets_its_findings_and_tables():
    from nonlinearity.reporting import cross_architecture, findings, layer_rows, summary_table
    from tests.reporting.test_figures import record

    runs = dict(record("gated-base", "gating", s, 0.9, 0.6, [0.4, 0.8]) for s in (0, 1, 2))
    summary = summary_table(runs)
    found = findings(summary, layer_rows(runs), runs)  # no all-ReLU run: no drops
    assert "no all-ReLU baseline" in found["claims"][0]["sentence"]
    assert [r["kind"] for r in found["module_kinds"]] == ["query", "ffn"]
    table = cross_architecture(summary, pd.DataFrame(found["drops"]))
    assert table.fixed_epochs.isna().all() and table.gated_epochs.tolist() == [3]
