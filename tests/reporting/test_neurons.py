"""Which neurons stay nonlinear: κ exact on hand-made masks, matching, the jackknife
interval, the statistics-explained κ, clusters, and the report on a tiny record set."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats as sps

from nonlinearity.reporting import (
    FIGURES,
    collect_runs,
    cross_architecture,
    efficiency_ranking,
    findings,
    summary_table,
)
from nonlinearity.reporting import neurons as nn_
from nonlinearity.reporting.report import build_report
from nonlinearity.run.store import RunStore
from tests.reporting.test_figures import make_runs

N = 64  # neurons per layer of the hand-made runs


def test_kappa_exact():
    assert nn_.kappa([1, 0, 1, 0, 1, 1], [1, 0, 1, 0, 1, 1]) == 1.0
    assert nn_.kappa([1, 1, 0, 0], [0, 0, 1, 1]) == -1.0  # complementary, share ½
    assert nn_.kappa([1, 1, 0, 0], [1, 0, 1, 0]) == 0.0  # p_o = p_e = ½: chance
    # p_o = 3/4, p_e = 3/4 · 1/2 + 1/4 · 1/2 = 1/2: κ = (3/4 − 1/2) / (1 − 1/2)
    assert nn_.kappa([1, 1, 1, 0], [1, 1, 0, 0]) == pytest.approx(0.5)
    assert math.isnan(nn_.kappa([1, 1, 1], [1, 1, 1]))  # p_e = 1: undefined


def test_independent_masks_are_at_chance():
    rng = np.random.default_rng(0)
    ks = [nn_.kappa(rng.random(500) < 0.3, rng.random(500) < 0.6) for _ in range(200)]
    assert abs(np.mean(ks)) < 0.01


def test_match_recovers_a_permutation():
    rng = np.random.default_rng(1)
    sa = rng.normal(size=(50, 4))
    perm = rng.permutation(50)
    sb = 3.0 * sa[perm] + 1.0 + 1e-3 * rng.normal(size=(50, 4))  # rescaled: standardised away
    m = nn_.match(sa, sb)
    np.testing.assert_array_equal(perm[m], np.arange(50))  # sa[i] ↔ sb[m[i]] = sa[perm[m[i]]]


def test_jackknife_over_seeds():
    iv = nn_.jackknife({(0, 1): 0.2, (0, 2): 0.4, (1, 2): 0.6})
    # leave-one-seed-out means: without 0 → 0.6, without 1 → 0.4, without 2 → 0.2
    se = math.sqrt(2 / 3 * (0.2**2 + 0 + 0.2**2))
    half = sps.t.ppf(0.975, 2) * se
    assert iv.mean == pytest.approx(0.4) and iv.n == 3
    assert (iv.low, iv.high) == pytest.approx((0.4 - half, 0.4 + half))
    assert iv.excludes(0.0) is False
    one = nn_.jackknife({(0, 1): 0.3, (0, 2): math.nan})  # NaN left out: two seeds, no CI
    assert one.mean == pytest.approx(0.3) and one.low is None


def _pair(kind: str, rng, n: int = 256):
    """Two seeds' (statistics, mask): masks from the statistics alone (`stats`), or from a
    latent identity the seeds share at each position that the statistics do not show."""
    u, v = rng.normal(size=(n, 4)), rng.normal(size=n)
    out = []
    for _ in range(2):
        s = u + 0.3 * rng.normal(size=(n, 4))
        logit = 2 * s[:, 1] + s[:, 0] if kind == "stats" else s[:, 1] + 1.5 * v
        out.append((s, (logit > 0).astype(float)))
    return out


@pytest.mark.parametrize("kind", ["stats", "identity"])
def test_kappa_explained_by_statistics(kind):
    """Masks that follow the statistics: κ − κ_stats ≈ 0; masks of a shared identity the
    statistics miss: the excess is large."""
    rng = np.random.default_rng(2)
    (sa, ma), (sb, mb) = _pair(kind, rng)
    k = nn_.kappa(ma, mb)  # by position
    ks = nn_.kappa_from_stats(nn_.propensity(sa, ma), nn_.propensity(sb, mb), ma.mean(), mb.mean())
    assert k > 0.5
    if kind == "stats":
        assert abs(k - ks) < 0.05
    else:
        assert k - ks > 0.4


def test_spearman_with_fisher_interval():
    x = np.arange(40.0)
    y = x + np.random.default_rng(3).normal(scale=8, size=40)
    rho, low, high = nn_.spearman(y, x)
    assert rho == pytest.approx(sps.spearmanr(y, x).statistic)
    se = math.sqrt(1.06 / 37)
    assert (low, high) == pytest.approx(
        (math.tanh(math.atanh(rho) - 1.959964 * se), math.tanh(math.atanh(rho) + 1.959964 * se))
    )
    assert math.isnan(nn_.spearman(np.ones(10), x[:10])[0])  # constant α: undefined


def test_clusters_found_only_where_there_are_groups():
    rng = np.random.default_rng(4)
    centres = np.array([[0.9, 0.5, 0.5], [0.1, 0.99, 0.0], [0.5, 0.1, 0.9]])
    blobs = np.vstack([c + 0.02 * rng.normal(size=(60 + 20 * i, 3)) for i, c in enumerate(centres)])
    c = nn_.clusters(blobs)
    assert c["k"] == 3 and c["silhouette"] >= nn_.SILHOUETTE
    assert sorted(g["size"] for g in c["groups"]) == [60, 80, 100]
    assert np.allclose(c["groups"][0]["centre"], centres[0], atol=0.01)  # by α, highest first
    flat = nn_.clusters(rng.uniform(size=(300, 3)))
    assert flat["k"] == 1 and flat["silhouette"] < nn_.SILHOUETTE
    assert flat["groups"][0]["size"] == 300


def test_position_rule():
    assert not nn_.by_position({"name": "mlp"}, "act0")
    assert nn_.by_position({"name": "transformer", "checkpoint": "minilm"}, "model.x.act")
    assert not nn_.by_position({"name": "transformer", "config": {"hidden_size": 8}}, "m.act")
    resnet = {"name": "resnet18_head", "pretrained": True}
    assert nn_.by_position(resnet, "backbone.layer1.0.relu1")
    assert not nn_.by_position(resnet, "head.act0")
    assert not nn_.by_position({**resnet, "pretrained": False}, "backbone.layer1.0.relu1")


# --- a tiny record set ----------------------------------------------------------------------


def _neurons_csv(run: str, layers: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    rows = []
    for i, (layer, (s, mask)) in enumerate(layers.items()):
        for j in range(len(mask)):
            rows.append(
                {"run": run, "layer_idx": i, "layer": layer, "neuron": j}
                | dict(zip(nn_.MATCH_STATS, s[j], strict=True))
                | {"negative_frac": 1 - s[j, 0], "alpha": float(mask[j])}
            )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # any row order


def tiny_runs(model: dict, same_positions: bool):
    """Three gated seeds with two layers; masks follow the first statistic. With
    `same_positions` every seed has the same neurons in the same order (a checkpoint)."""
    rng = np.random.default_rng(5)
    base = rng.uniform(size=(2, N, 4))
    parts, frames = {}, {}
    for seed in (0, 1, 2):
        run = f"digits_mlp_gated-base_s{seed}_c00000{seed}"
        order = np.arange(N) if same_positions else rng.permutation(N)
        layers, gates = {}, {}
        for li, name in enumerate(("act0", "act1")):
            s = base[li][order] + 0.01 * rng.normal(size=(N, 4))
            alpha = np.clip(1.2 - s[:, 0], 0.01, 0.99)  # α high where positive_frac is low
            layers[name], gates[name] = (s, (alpha >= 0.5).astype(float)), alpha.tolist()
        meta = {
            "status": "complete",
            "metrics": {"test_acc": 0.9, "val_acc": 0.9, "linear_ratio": 0.5},
            "gates_before_hardening": gates,
            "config": {"dataset": "digits", "model": model, "approach": "gating"}
            | {"variant": "base", "seed": seed, "gating": {"harden_threshold": 0.5}},
        }
        parts[f"{run}/meta"] = lambda m=meta: m
        parts[f"{run}/history"] = lambda: [{"epoch": 1, "phase": "train", "val_acc": 0.9}]
        frames[run] = _neurons_csv(run, layers)
    return parts, frames.get  # run -> its activation_neurons.csv


@pytest.fixture(scope="module")
def mlp():
    """(records without the neuron tables, records with them)."""
    parts, read = tiny_runs({"name": "mlp"}, same_positions=False)
    return collect_runs(parts), collect_runs(parts, None, read)


def test_collect_attaches_each_gated_runs_neurons(mlp):
    plain, runs = mlp
    assert all("neurons" not in r for r in plain.values())
    rec = runs["digits_mlp_gated-base_s0_c000000"]
    assert list(rec["neurons"]) == ["act0", "act1"]
    cols = rec["neurons"]["act0"]
    assert len(cols["mask"]) == N and set(cols["mask"]) == {0, 1}
    gates = np.array(rec["meta"]["gates_before_hardening"]["act0"])
    np.testing.assert_array_equal(cols["mask"], (gates >= 0.5).astype(int))  # neuron order kept


def test_the_run_stores_neuron_tables(tmp_path):
    frame = _neurons_csv("r", {"act0": (np.full((3, 4), 0.5), np.array([1.0, 0.0, 1.0]))})
    (tmp_path / "runs" / "r").mkdir(parents=True)
    frame.to_csv(tmp_path / "runs" / "r" / nn_.NEURONS_FILE, index=False)
    read = nn_.store_reader(RunStore(tmp_path))
    pd.testing.assert_frame_equal(read("r"), frame.reset_index(drop=True))
    assert read("not_analysed") is None


def test_findings_and_report_section(mlp):
    _, runs = mlp
    summary = summary_table(runs)
    n = nn_.neuron_findings(summary, runs)
    rows = {(r["layer"], r["matching"]): r for r in n["agreement"]}
    assert len(rows) == 4 and len(n["pairs"]) == 2 * 2 * 3  # layers × matchings × pairs
    by_stats = rows[("act0", "statistics")]
    assert by_stats["rule"] and by_stats["kappa"] > 0.8 and by_stats["vs_chance"] == "above chance"
    assert by_stats["vs_statistics"] == nn_.RESTATES
    shuffled = rows[("act0", "position")]  # positions permuted per seed: a check at chance
    assert not shuffled["rule"] and shuffled["kappa_low"] < 0 < shuffled["kappa_high"]
    rho = {(r["layer"], r["statistic"]): r for r in n["correlation"]}
    assert (
        rho[("act0", "positive_frac")]["rho"] < -0.9
        and rho[("act0", "positive_frac")]["seeds"] == 3
    )
    assert len(n["clusters"]) == 3
    text = "\n".join(nn_.report_section({"neurons": n}))
    assert "### Which neurons stay nonlinear across seeds" in text
    assert "| digits · mlp | gated base | act0 | statistics | 3 | +" in text
    assert "above chance" in text and "not the same neurons" in text
    table = nn_.agreement_frame({"neurons": n})
    assert len(table) == 4 and {"kappa", "kappa_low", "kappa_stats", "excess"} <= set(table)


def test_positions_fixed_by_a_checkpoint():
    parts, read = tiny_runs({"name": "transformer", "checkpoint": "minilm"}, True)
    runs = collect_runs(parts, None, read)
    n = nn_.neuron_findings(summary_table(runs), runs)
    rows = {(r["layer"], r["matching"]): r for r in n["agreement"]}
    assert rows[("act1", "position")]["rule"] and not rows[("act1", "statistics")]["rule"]
    assert rows[("act1", "position")]["kappa"] > 0.9
    assert rows[("act1", "position")]["vs_statistics"] != nn_.RESTATES
    assert any("matched by position" in s for s in n["sentences"])


def test_figure(mlp):
    _, runs = mlp
    fig = FIGURES["neuron_agreement"](summary_table(runs), runs)
    assert isinstance(fig, Figure)
    drawn = [ax for ax in fig.axes if ax.lines or ax.collections or ax.images]
    assert len(drawn) >= 3  # κ per layer, the α map (and its colour bar), the scatter
    fig.canvas.draw()


def test_report_has_the_section_and_figure():
    """The whole report of the figures' record set, its gated runs given 64 neurons."""
    runs = make_runs()
    parts, read = tiny_runs({"name": "mlp"}, same_positions=False)
    for seed in (0, 1, 2):
        run = f"digits_mlp_gated-base_s{seed}_c00000{seed}"
        runs[run]["meta"]["gates_before_hardening"] = parts[f"{run}/meta"]()[
            "gates_before_hardening"
        ]
    nn_.attach_neurons(runs, read)
    summary = summary_table(runs)
    layers = pd.DataFrame(columns=["run", "layer", "linearized"])
    f = findings(summary, layers, runs)
    assert [r["layer"] for r in f["neurons"]["agreement"]] == ["act0", "act0", "act1", "act1"]
    json.dumps(f, allow_nan=False)  # findings.json is strict JSON
    ranking = efficiency_ranking(pd.DataFrame(f["latency"]), summary)
    cross = cross_architecture(summary, pd.DataFrame(f["drops"]))
    report = build_report(f, summary, cross, ranking, layers)
    assert "![Which neurons stay nonlinear across seeds](figures/neuron_agreement.png)" in report
    assert "### Which neurons stay nonlinear across seeds" in report
    assert "| digits · mlp | gated base | act1 | statistics | 3 |" in report


def test_without_statistics_the_figure_says_so():
    parts, _ = tiny_runs({"name": "mlp"}, False)
    runs = collect_runs(parts)
    fig = FIGURES["neuron_agreement"](summary_table(runs), runs)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no activation statistics" in t for t in texts)
    assert nn_.report_section({"neurons": {}})[2].startswith("_No analysed gated run")


def test_one_seed_has_no_agreement_but_its_groups():
    parts, read = tiny_runs({"name": "mlp"}, False)
    one = {k: v for k, v in parts.items() if "_s0_" in k}
    runs = collect_runs(one, None, read)
    n = nn_.neuron_findings(summary_table(runs), runs)
    assert n["agreement"] == [] and len(n["clusters"]) == 1
    assert n["correlation"][0]["seeds"] == 1 and n["correlation"][0]["rho_low"] is None
    text = nn_.report_section({"neurons": n})
    assert "_One seed per gated configuration: no agreement to measure._" in text
