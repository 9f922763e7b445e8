"""Which neurons stay nonlinear across the seeds of one gated configuration (guide §15,
"alpha clustering").

Matching. Neuron j of seed a is neuron j of seed b (*position*) when the architecture
fixes neuron identity, i.e. every seed starts the layer from the same weights: a
transformer loaded from a checkpoint (`model.checkpoint`, no `model.config`) and the
backbone layers of a ResNet with `model.pretrained` or `model.freeze_backbone`. Otherwise
(MLPs, ResNet heads, backbones initialised by the run's seed, a transformer from
`model.config`) the neurons of the two layers are paired one to one by *statistics*:
`scipy.optimize.linear_sum_assignment` minimising Σ_i ||s_a(i) − s_b(m(i))||², s a
neuron's (positive_frac, nonlinear_score, pre_mean, pre_std), each standardised over both
layers. Both matchings are reported; the architecture's rule decides the verdict.

Agreement of the hardened masks over the matched pairs is Cohen's κ:

    κ = (p_o − p_e) / (1 − p_e),   p_e = p_a p_b + (1 − p_a)(1 − p_b),

p_o the share of pairs whose masks agree, p_a, p_b the nonlinear shares. κ is 0 at chance
(independent masks with those shares), 1 for identical masks, −1 for complementary masks
of share ½; undefined (NaN) when p_e = 1 (both layers all linear or all nonlinear).

Explained by statistics. α correlates with the statistics, so agreement of neurons matched
by statistics may only restate that correlation. κ_stats is the κ expected if each seed
drew its masks independently, neuron by neuron, with probability π(i) = P(mask = 1 | the
neuron's statistics), a logistic regression of the layer's masks on the degree-2 terms of
its standardised statistics (weak L2, C = 100; it follows non-monotone relations):

    κ_stats = (E[p_o] − p_e) / (1 − p_e),
    E[p_o] = mean_i π_a(i) π_b(m(i)) + (1 − π_a(i)) (1 − π_b(m(i))).

κ − κ_stats > 0: the seeds agree beyond what the statistics predict, which only neurons
with an identity (matched by position) can do: matched by statistics, κ − κ_stats stays
near 0 by construction, and κ says how reproducibly the same *kind* of neuron (by its
statistics) stays nonlinear, the α–statistics relation seen across seeds.

Intervals. A layer's κ is the mean over seed pairs; its 95 % interval is a jackknife over
seeds (pairs share seeds, so they are not independent): θ_(i) the mean of the pairs
without seed i, se² = (n−1)/n Σ_i (θ_(i) − θ̄_(·))², κ̄ ± t_{0.975, n−1} se. Two seeds (one
pair) have no interval. "Above chance" only when the interval lies above 0.

α against statistics: Spearman ρ per run and layer between the soft α (before hardening)
and positive_frac, nonlinear_score (of the final model); per run a Fisher-z 95 % interval
(se = √(1.06 / (n − 3)), Fieller et al. 1957), over seeds the Student-t interval of ρ.

Clusters: per run, every gated neuron's (α, positive_frac, nonlinear_score), each
standardised; k-means for k = 2..6 (4 starts, seeded); the k of the best silhouette if
that silhouette is at least 0.5 ("reasonable structure", Kaufman & Rousseeuw 1990), else
one group: no clear groups.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from scipy import stats as sps
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from ..run.store import RunStore
from . import stats

NEURONS_FILE = "activation_neurons.csv"  # activation_analysis' per-neuron table of a run
MATCH_STATS = ("positive_frac", "nonlinear_score", "pre_mean", "pre_std")
CLUSTER_STATS = ("positive_frac", "nonlinear_score")  # with α
K_MAX = 6  # largest number of groups tried
SILHOUETTE = 0.5  # groups exist when the best k reaches this silhouette
SILHOUETTE_SAMPLE = 2000  # neurons the silhouette is computed on (seeded sample)
PROPENSITY_C = 100.0  # inverse L2 weight of the mask-on-statistics logistic regression
POSITION, STATISTICS = "position", "statistics"
RESTATES = "restates the statistics (no identity beyond them)"
JACKKNIFE = "jackknife over seeds, Student-t"


# --- the run files -> per-neuron columns --------------------------------------------------


def neuron_columns(neurons: pd.DataFrame, layers: list[str]) -> dict[str, dict[str, list]]:
    """activation_neurons.csv -> `{layer: {statistic: [per neuron], "mask": [0/1]}}` for the
    gated `layers` (the analysed model is hardened: its `alpha` column is the mask)."""
    out = {}
    for layer, g in neurons[neurons.layer.isin(layers)].groupby("layer", sort=False):
        rows = g.sort_values("neuron")
        out[layer] = {s: rows[s].astype(float).tolist() for s in MATCH_STATS}
        out[layer]["mask"] = (rows["alpha"] >= 0.5).astype(int).tolist()
    return out


def attach_neurons(runs: dict[str, dict], read: Callable[[str], pd.DataFrame | None]) -> None:
    """Each gated record gets `neurons` from its activation_neurons.csv, `read(run)`
    (None: the run was not analysed)."""
    for run, rec in runs.items():
        gates = rec["meta"].get("gates_before_hardening")
        neurons = read(run) if gates else None
        if neurons is not None:
            rec["neurons"] = neuron_columns(neurons, list(gates))


def store_reader(store: RunStore) -> Callable[[str], pd.DataFrame | None]:
    """`read(run)`: the run's activation_neurons.csv from the run store, None if absent."""

    def read(run: str) -> pd.DataFrame | None:
        if not store.has(run, NEURONS_FILE):
            return None
        return pd.read_csv(io.StringIO(store.text(run, NEURONS_FILE)))

    return read


# --- measures -------------------------------------------------------------------------------


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's κ of two 0/1 vectors (matched pairs a[i] ↔ b[i]); NaN when p_e = 1."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return _kappa(float(np.mean(a == b)), a.mean(), b.mean())


def _kappa(p_o: float, pa: float, pb: float) -> float:
    p_e = pa * pb + (1 - pa) * (1 - pb)
    return math.nan if p_e >= 1 - 1e-12 else (p_o - p_e) / (1 - p_e)


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


def match(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """`m` with a's neuron i ↔ b's neuron m[i]: the one-to-one pairing of least total squared
    distance between the rows of `sa` and `sb` (n, d), standardised over both."""
    z = _standardise(np.vstack([sa, sb]))
    za, zb = z[: len(sa)], z[len(sa) :]
    rows, cols = linear_sum_assignment(cdist(za, zb, "sqeuclidean"))
    m = np.empty(len(sa), dtype=int)
    m[rows] = cols
    return m


def propensity(s: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """π(i) = P(mask = 1 | statistics): logistic regression on the degree-2 terms of the
    standardised statistics (weak L2, C = 100), fitted on the layer itself."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import PolynomialFeatures
    from threadpoolctl import threadpool_limits

    mask = np.asarray(mask, float)
    if mask.min() == mask.max():
        return mask.copy()
    x = PolynomialFeatures(2, include_bias=False).fit_transform(_standardise(s))
    with threadpool_limits(1):  # BLAS threads on busy cores cost far more than they give
        fit = LogisticRegression(C=PROPENSITY_C, max_iter=5000).fit(x, mask)
    return fit.predict_proba(x)[:, 1]


def kappa_from_stats(pa: np.ndarray, pb: np.ndarray, share_a: float, share_b: float) -> float:
    """κ expected when the masks are independent draws with probabilities pa[i], pb[i]."""
    p_o = float(np.mean(pa * pb + (1 - pa) * (1 - pb)))
    return _kappa(p_o, share_a, share_b)


def jackknife(pairs: Mapping[tuple, float], level: float = stats.LEVEL) -> stats.Interval:
    """Mean over seed pairs `{(seed_a, seed_b): value}` with the jackknife-over-seeds
    t interval (module docstring); NaN values are left out."""
    pairs = {p: v for p, v in pairs.items() if v is not None and math.isfinite(v)}
    seeds = sorted({s for p in pairs for s in p})
    n = len(seeds)
    if not pairs:
        return stats.Interval(math.nan, None, None, 0, None, level, JACKKNIFE)
    mean = float(np.mean(list(pairs.values())))
    loo = [[v for p, v in pairs.items() if s not in p] for s in seeds]
    if n < 3 or any(not v for v in loo):
        return stats.Interval(mean, None, None, n, None, level, JACKKNIFE)
    theta = np.array([np.mean(v) for v in loo])
    se = math.sqrt((n - 1) / n * float(((theta - theta.mean()) ** 2).sum()))
    half = stats.t_quantile(n, level) * se
    return stats.Interval(mean, mean - half, mean + half, n, se * math.sqrt(n), level, JACKKNIFE)


def spearman(alpha: np.ndarray, x: np.ndarray, level: float = stats.LEVEL) -> tuple:
    """(ρ, low, high): Spearman ρ with its Fisher-z interval (se² = 1.06 / (n − 3))."""
    alpha, x = np.asarray(alpha, float), np.asarray(x, float)
    n = len(alpha)
    if n < 4 or np.ptp(alpha) == 0 or np.ptp(x) == 0:
        return math.nan, None, None
    rho = float(sps.spearmanr(alpha, x).statistic)
    z, se = math.atanh(min(max(rho, -0.999999), 0.999999)), math.sqrt(1.06 / (n - 3))
    q = float(sps.norm.ppf(0.5 + level / 2))
    return rho, math.tanh(z - q * se), math.tanh(z + q * se)


def clusters(x: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """k-means on the standardised columns of `x` (n, d) for k = 2..K_MAX; `k` is the best
    silhouette's k when it reaches SILHOUETTE, else 1. Groups: sizes and centres (x's units)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, float)
    z = _standardise(x)
    scores: dict[int, tuple[float, np.ndarray]] = {}
    for k in range(2, min(K_MAX, len(x) - 1) + 1):
        with threadpool_limits(1):  # as in `propensity`
            labels = KMeans(k, n_init=4, random_state=seed).fit_predict(z)
        if len(set(labels)) < 2:
            continue
        size = min(len(x), SILHOUETTE_SAMPLE)
        s = silhouette_score(z, labels, sample_size=size, random_state=seed)
        scores[k] = (float(s), labels)
    best = max(scores, key=lambda k: scores[k][0]) if scores else None
    found = best is not None and scores[best][0] >= SILHOUETTE
    labels = scores[best][1] if found else np.zeros(len(x), dtype=int)
    groups = [
        {"size": int((labels == c).sum()), "centre": x[labels == c].mean(0).tolist()}
        for c in sorted(set(labels.tolist()))
    ]
    return {
        "k": best if found else 1,
        "best_k": best,
        "silhouette": scores[best][0] if best else None,
        "silhouettes": {k: v[0] for k, v in scores.items()},
        "groups": sorted(groups, key=lambda g: -g["centre"][0]),
        "labels": labels,
    }


# --- runs -> tables -------------------------------------------------------------------------


def by_position(model: Mapping[str, Any], layer: str) -> bool:
    """Whether the architecture fixes the identity of the layer's neurons across seeds."""
    name = model.get("name", "mlp")
    if name == "transformer":
        return not model.get("config")
    if name in ("resnet18_head", "resnet50_head") and layer.startswith("backbone."):
        return bool(model.get("pretrained") or model.get("freeze_backbone"))
    return False


def gated_groups(summary: pd.DataFrame, runs: Mapping[str, Mapping]) -> dict[tuple, dict]:
    """(setting, label) -> {seed: run} of the gated runs with gates recorded before
    hardening; layers in the order of the first seed's gates, kept when all seeds have them."""
    groups: dict[tuple, dict] = {}
    if summary.empty:
        return groups
    gated = summary[summary.approach == "gating"].sort_values("seed")
    for r in gated.itertuples():
        if runs[r.run]["meta"].get("gates_before_hardening"):
            groups.setdefault((r.setting, r.label), {})[int(r.seed)] = r.run
    return groups


def _layers(runs: Mapping, seeds: dict[int, str]) -> list[str]:
    gates = [runs[run]["meta"]["gates_before_hardening"] for run in seeds.values()]
    sizes = [{k: len(v) for k, v in g.items()} for g in gates]
    return [k for k in gates[0] if all(s.get(k) == sizes[0][k] for s in sizes)]


def _stats(rec: Mapping, layer: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(statistics (n, 4), mask (n,)) of one analysed layer, or None."""
    cols = (rec.get("neurons") or {}).get(layer)
    if not cols:
        return None
    return np.column_stack([cols[s] for s in MATCH_STATS]), np.asarray(cols["mask"], float)


def pair_rows(summary: pd.DataFrame, runs: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per (configuration, layer, seed pair, matching): κ and κ_stats."""
    rows = []
    for (setting, label), seeds in gated_groups(summary, runs).items():
        model = runs[next(iter(seeds.values()))]["meta"].get("config", {}).get("model") or {}
        for idx, layer in enumerate(_layers(runs, seeds)):
            data = {s: _stats(runs[run], layer) for s, run in seeds.items()}
            data = {s: d for s, d in data.items() if d is not None}
            pi = {s: propensity(*d) for s, d in data.items()}
            rule = POSITION if by_position(model, layer) else STATISTICS
            for a, b in combinations(sorted(data), 2):
                (sa, ma), (sb, mb) = data[a], data[b]
                for matching in (POSITION, STATISTICS):
                    m = np.arange(len(ma)) if matching == POSITION else match(sa, sb)
                    rows.append(
                        {
                            "setting": setting,
                            "label": label,
                            "layer_idx": idx,
                            "layer": layer,
                            "matching": matching,
                            "rule": matching == rule,
                            "seed_a": a,
                            "seed_b": b,
                            "neurons": len(ma),
                            "share_a": ma.mean(),
                            "share_b": mb.mean(),
                            "kappa": kappa(ma, mb[m]),
                            "kappa_stats": kappa_from_stats(pi[a], pi[b][m], ma.mean(), mb.mean()),
                        }
                    )
    return pd.DataFrame(rows)


def agreement_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, layer and matching: κ, κ_stats and κ − κ_stats over seed pairs
    with their jackknife intervals, and the verdicts against chance and statistics."""
    rows = []
    if pairs.empty:
        return pd.DataFrame(rows)
    keys = ["setting", "label", "layer_idx", "layer", "matching"]
    for key, g in pairs.groupby(keys, sort=True):
        by = {(r.seed_a, r.seed_b): r for r in g.itertuples()}
        k = jackknife({p: r.kappa for p, r in by.items()})
        ks = jackknife({p: r.kappa_stats for p, r in by.items()})
        ex = jackknife({p: r.kappa - r.kappa_stats for p, r in by.items()})
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "rule": bool(g.rule.iloc[0]),
                "seeds": k.n,
                "pairs": len(g),
                "neurons": int(g.neurons.iloc[0]),
                "nonlinear_share": float(np.mean([*g.share_a, *g.share_b])),
                "kappa": k.mean,
                "kappa_low": k.low,
                "kappa_high": k.high,
                "kappa_stats": ks.mean,
                "excess": ex.mean,
                "excess_low": ex.low,
                "excess_high": ex.high,
                "vs_chance": _verdict(k, "above chance", "below chance", "from chance"),
                "vs_statistics": _verdict(ex, "beyond statistics", "below statistics", "beyond")
                if key[-1] == POSITION
                else RESTATES,
            }
        )
    return pd.DataFrame(rows)


def _verdict(iv: stats.Interval, above: str, below: str, what: str) -> str:
    v = stats.sign_verdict(iv)
    return {stats.HIGHER: above, stats.LOWER: below}.get(v, f"{stats.CANNOT_TELL} {what}")


def correlation_table(summary: pd.DataFrame, runs: Mapping[str, Mapping]) -> pd.DataFrame:
    """Per configuration, layer and statistic: Spearman ρ(soft α, statistic) over seeds
    (Student-t) with each seed's ρ and Fisher-z interval."""
    rows = []
    for (setting, label), seeds in gated_groups(summary, runs).items():
        for idx, layer in enumerate(_layers(runs, seeds)):
            for stat in CLUSTER_STATS:
                per_seed = {}
                for seed, run in seeds.items():
                    cols = (runs[run].get("neurons") or {}).get(layer)
                    if cols:
                        alpha = runs[run]["meta"]["gates_before_hardening"][layer]
                        per_seed[seed] = spearman(alpha, cols[stat])
                if not per_seed:
                    continue
                iv = stats.mean_interval(r[0] for r in per_seed.values())
                rows.append(
                    {
                        "setting": setting,
                        "label": label,
                        "layer_idx": idx,
                        "layer": layer,
                        "statistic": stat,
                        "seeds": iv.n,
                        "rho": iv.mean,
                        "rho_low": iv.low,
                        "rho_high": iv.high,
                        "per_seed": {s: list(r) for s, r in per_seed.items()},
                    }
                )
    return pd.DataFrame(rows)


def cluster_rows(summary: pd.DataFrame, runs: Mapping[str, Mapping]) -> list[dict]:
    """Per gated run with statistics: the clustering of its neurons (`clusters`)."""
    out = []
    for (setting, label), seeds in gated_groups(summary, runs).items():
        for seed, run in seeds.items():
            x = _cluster_input(runs[run], _layers(runs, {seed: run}))
            if x is None:
                continue
            c = clusters(x, seed=0)
            c.pop("labels")
            out.append({"setting": setting, "label": label, "seed": seed, "run": run, **c})
    return out


def _cluster_input(rec: Mapping, layers: list[str]) -> np.ndarray | None:
    """(n, 3): α, positive_frac, nonlinear_score of every neuron of the analysed layers."""
    cols = rec.get("neurons") or {}
    gates = rec["meta"]["gates_before_hardening"]
    parts = [
        np.column_stack([gates[layer], *(cols[layer][s] for s in CLUSTER_STATS)])
        for layer in layers
        if layer in cols
    ]
    return np.vstack(parts) if parts else None


# --- findings, report, table ----------------------------------------------------------------


def neuron_findings(summary: pd.DataFrame, runs: Mapping[str, Mapping]) -> dict[str, Any]:
    """findings.json `neurons`: agreement per layer and per seed pair, α–statistics
    correlations, clusters per run, and one sentence per gated configuration and layer."""
    pairs = pair_rows(summary, runs)
    agreement = agreement_table(pairs)
    corr = correlation_table(summary, runs)
    groups = cluster_rows(summary, runs)
    return {
        "agreement": agreement.to_dict(orient="records"),
        "pairs": pairs.to_dict(orient="records"),
        "correlation": corr.to_dict(orient="records"),
        "clusters": groups,
        "sentences": _sentences(agreement, corr, groups),
        "test": f"Cohen's κ of the hardened masks over matched neurons; {JACKKNIFE} 95 % "
        "interval; chance κ = 0; κ_stats from each seed's neighbour propensity",
    }


def agreement_frame(findings: Mapping[str, Any]) -> pd.DataFrame:
    """data/08_reporting/neuron_agreement.csv: the agreement rows of findings.json."""
    return pd.DataFrame((findings.get("neurons") or {}).get("agreement") or [])


def _f(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:+.{digits}f}".replace("-", "−")


def _iv(mean: Any, low: Any, high: Any) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if low is None or (isinstance(low, float) and math.isnan(low)):
        return f"{_f(mean)} (no interval)"
    return f"{_f(mean)} [{_f(low)}, {_f(high)}]"


def _sentences(agreement: pd.DataFrame, corr: pd.DataFrame, groups: list[dict]) -> list[str]:
    out = []
    rule = agreement[agreement.rule] if len(agreement) else agreement
    for r in rule.itertuples():
        head = (
            f"{r.setting}, {r.label}, {r.layer} ({r.seeds} seeds, matched by {r.matching}): "
            f"κ = {_iv(r.kappa, r.kappa_low, r.kappa_high)}, {r.vs_chance}"
        )
        if r.matching == POSITION:
            out.append(
                f"{head}; the statistics alone predict κ = {_f(r.kappa_stats)}, excess "
                f"{_iv(r.excess, r.excess_low, r.excess_high)}: {r.vs_statistics}."
            )
        else:
            out.append(
                f"{head}. Matched by statistics, this is the α–statistics relation seen across "
                f"seeds (the statistics alone predict κ = {_f(r.kappa_stats)}), not the same "
                "neurons: these neurons have no identity across seeds beyond their statistics."
            )
    by_config: dict[tuple, list[dict]] = {}
    for g in groups:
        by_config.setdefault((g["setting"], g["label"]), []).append(g)
    for (setting, label), runs in by_config.items():
        ks = [g["k"] for g in runs]
        sil = stats.mean_interval(g["silhouette"] for g in runs if g["silhouette"] is not None)
        found = sum(k > 1 for k in ks)
        words = "no clear groups" if not found else f"groups in {found} of {len(ks)} seeds"
        out.append(
            f"{setting}, {label}: neurons by (α, positive_frac, nonlinear_score): {words} "
            f"(k per seed {', '.join(map(str, ks))}; best silhouette "
            f"{_iv(sil.mean, sil.low, sil.high).replace('+', '')}, groups need ≥ {SILHOUETTE})."
        )
    return out


def report_section(findings: Mapping[str, Any]) -> list[str]:
    """`### Which neurons stay nonlinear across seeds` of report.md: the sentences, then
    the agreement, correlation and cluster tables they come from."""
    n = findings.get("neurons") or {}
    out = ["### Which neurons stay nonlinear across seeds", ""]
    if not n.get("clusters"):
        return out + [
            "_No analysed gated run: run the gated runs and `activation_analysis` (the "
            "default `kedro run` does both)._",
            "",
        ]
    out += [
        "Neurons of two seeds are paired by position where the architecture fixes them (a "
        "checkpoint's transformer, a pretrained or frozen backbone), else one to one by their "
        "activation statistics (`docs/metrics.md`, “Neuron agreement”). κ is Cohen's κ of "
        "the hardened masks over the pairs (0 at chance, 1 identical), the mean over seed "
        "pairs with a jackknife-over-seeds 95 % interval; κ_stats is the κ the statistics "
        "alone predict, so κ − κ_stats above 0 means the same neurons stay nonlinear beyond "
        "what their statistics say. The matching the rule does not pick is shown as a check "
        "(by position, seeds that share no initial weights should be at chance).",
        "",
        *(f"- {s}" for s in n.get("sentences") or []),
        "",
    ]
    agreement = n.get("agreement") or []
    if agreement:
        out += [
            "| setting | configuration | layer | matching | seeds | κ [95 % CI] | κ_stats "
            "| κ − κ_stats [95 % CI] | verdict |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
    else:
        out += ["_One seed per gated configuration: no agreement to measure._"]
    for r in agreement:
        used = "" if r["rule"] else " (check)"
        out.append(
            f"| {r['setting']} | {r['label']} | {r['layer']} | {r['matching']}{used} | "
            f"{r['seeds']} | {_iv(r['kappa'], r['kappa_low'], r['kappa_high'])} | "
            f"{_f(r['kappa_stats'])} | {_iv(r['excess'], r['excess_low'], r['excess_high'])} | "
            f"{r['vs_chance'] + ', ' + r['vs_statistics'] if r['rule'] else '–'} |"
        )
    out += [
        "",
        "Spearman ρ of the soft α (before hardening) with each statistic of the final model, "
        "per layer (mean over seeds, Student-t 95 % interval):",
        "",
        "| setting | configuration | layer | statistic | seeds | ρ [95 % CI] |",
        "|---|---|---|---|---|---|",
    ]
    for r in n.get("correlation") or []:
        out.append(
            f"| {r['setting']} | {r['label']} | {r['layer']} | {r['statistic']} | {r['seeds']} "
            f"| {_iv(r['rho'], r['rho_low'], r['rho_high'])} |"
        )
    out += [
        "",
        f"Groups of neurons per run (k-means on standardised α, positive_frac, "
        f"nonlinear_score; k = 2..{K_MAX} kept when its silhouette reaches {SILHOUETTE}, "
        "else one group):",
        "",
    ]
    for g in n["clusters"]:
        parts = [
            f"{c['size']} at α {c['centre'][0]:.2f}, positive_frac {c['centre'][1]:.2f}, "
            f"nonlinear_score {c['centre'][2]:.2f}"
            for c in g["groups"]
        ]
        sil = "–" if g["silhouette"] is None else f"{g['silhouette']:.2f} at k = {g['best_k']}"
        what = "no clear groups" if g["k"] == 1 else f"{g['k']} groups: " + "; ".join(parts)
        out.append(
            f"- {g['setting']}, {g['label']}, seed {g['seed']}: {what} (best silhouette {sil})."
        )
    return [*out, ""]


# --- figure ---------------------------------------------------------------------------------


def neuron_agreement(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Per gated configuration: κ of the hardened masks per layer (rule matching filled,
    the other hollow, κ_stats grey, chance at 0; jackknife 95 % CI over seeds); each seed's
    soft α over the neurons matched to the first seed's, sorted by their mean; soft α
    against nonlinear_score with each layer's Spearman ρ (mean [95 % CI] over seeds)."""
    from . import figures as fg

    runs = runs or {}
    groups = gated_groups(summary, runs)
    title = "Which neurons stay nonlinear across seeds"
    if not groups:
        return fg._empty(title, "no gated runs with gates recorded before hardening")
    table = agreement_table(pair_rows(summary, runs))
    corr = correlation_table(summary, runs)
    fg._style()
    fig, axes = fg._subplots(len(groups), 3, figsize=(17.0, 4.4 * len(groups) + 0.6))
    for row, ((setting, label), seeds) in zip(axes, groups.items(), strict=True):
        name = f"{setting}, {label} ({fg._seeds(len(seeds))})"
        model = runs[next(iter(seeds.values()))]["meta"].get("config", {}).get("model") or {}
        layers = _layers(runs, seeds)
        pick = (table.setting == setting) & (table.label == label) if len(table) else []
        _kappa_panel(row[0], table[pick] if len(table) else table, layers, seeds, name, fg)
        _alpha_map(row[1], runs, seeds, layers, model, fg)
        pick = (corr.setting == setting) & (corr.label == label) if len(corr) else []
        _scatter(row[2], runs, seeds, layers, corr[pick] if len(corr) else corr, fg)
    fig.suptitle(title)
    return fig


def _kappa_panel(ax, table: pd.DataFrame, layers: list[str], seeds: dict, name: str, fg) -> None:
    if len(seeds) < 2 or table.empty:
        why = (
            "1 seed: no pair of seeds to compare"
            if len(seeds) < 2
            else "no activation statistics of these runs: kedro run --pipelines=activation_analysis"
        )
        ax.axis("off")
        ax.text(0.5, 0.5, why, ha="center", va="center", wrap=True, fontsize=9)
        ax.set_title(name, fontsize=9)
        return
    colour = fg.PALETTE["gating"]
    x = np.arange(len(layers))
    for matching, dx in ((POSITION, -0.12), (STATISTICS, 0.12)):
        g = table[table.matching == matching].set_index("layer").reindex(layers)
        used = bool(g.rule.fillna(False).any())
        face = colour if used else fg.HOLLOW
        err = fg._errors(
            g.kappa_low.astype(float), g.kappa.astype(float), g.kappa_high.astype(float)
        )
        ax.errorbar(
            x + dx,
            g.kappa,
            yerr=err,
            fmt="o",
            mfc=face,
            mec=colour,
            ecolor=colour,
            capsize=3,
            label=f"matched by {matching}" + (" (rule)" if used else " (check)"),
        )
        ax.scatter(
            x + dx,
            g.kappa_stats,
            marker="_",
            s=160,
            color="0.4",
            zorder=3,
            label="κ the statistics predict" if matching == STATISTICS else None,
        )
    ax.axhline(0, color="k", lw=0.8, ls="--", label="chance (κ = 0)")
    ax.set_xticks(x, [fg._short(n.removeprefix("head."), i) for i, n in enumerate(layers)])
    ax.set(title=name, xlabel="layer", ylabel="Cohen's κ of hardened masks")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, title="mean, 95 % CI (jackknife over seeds)", title_fontsize=7)


def _aligned(runs: Mapping, seeds: dict, layer: str, position: bool) -> np.ndarray:
    """(seeds, n) soft α, each seed's neurons matched to the first seed's (rule matching;
    by position when a run lacks statistics)."""
    order = list(seeds.values())
    alphas = [np.asarray(runs[r]["meta"]["gates_before_hardening"][layer], float) for r in order]
    ref = _stats(runs[order[0]], layer)
    rows = [alphas[0]]
    for run, a in zip(order[1:], alphas[1:], strict=True):
        other = _stats(runs[run], layer)
        m = (
            np.arange(len(a))
            if position or ref is None or other is None
            else match(ref[0], other[0])
        )
        rows.append(a[m])
    return np.vstack(rows)


def _alpha_map(ax, runs: Mapping, seeds: dict, layers: list[str], model: Mapping, fg) -> None:
    blocks, ticks, names = [], [], []
    start = 0
    for i, layer in enumerate(layers):
        a = _aligned(runs, seeds, layer, by_position(model, layer))
        a = a[:, np.argsort(-a.mean(0), kind="stable")]
        blocks += [a, np.full((len(a), max(1, a.shape[1] // 40)), np.nan)]
        ticks.append(start + a.shape[1] / 2)
        names.append(fg._short(layer.removeprefix("head."), i))
        start += a.shape[1] + blocks[-1].shape[1]
    image = np.hstack(blocks[:-1])
    gating = runs[next(iter(seeds.values()))]["meta"].get("config", {}).get("gating") or {}
    cut = float(gating.get("harden_threshold") or 0.5)
    cmap = fg.sns.color_palette("vlag", as_cmap=True).copy()
    cmap.set_bad("white")
    norm = TwoSlopeNorm(cut, 0.0, 1.0)  # the hardening threshold in the middle
    im = ax.imshow(image, aspect="auto", interpolation="nearest", cmap=cmap, norm=norm)
    ax.figure.colorbar(im, ax=ax, label=f"soft α (hardened nonlinear at ≥ {cut:g})", fraction=0.05)
    ax.set_xticks(ticks, names)
    ax.set_yticks(range(len(seeds)), [f"seed {s}" for s in seeds])
    ax.grid(False)
    ax.set(title="soft α of matched neurons (columns), sorted by the mean", xlabel="layer")
    ax.title.set_fontsize(9)


def _scatter(ax, runs: Mapping, seeds: dict, layers: list[str], corr: pd.DataFrame, fg) -> None:
    drawn = False
    colours = fg.sns.color_palette("colorblind", max(len(layers), 1))
    for i, layer in enumerate(layers):
        xs, ys = [], []
        for run in seeds.values():
            cols = (runs[run].get("neurons") or {}).get(layer)
            if cols:
                xs += cols["nonlinear_score"]
                ys += runs[run]["meta"]["gates_before_hardening"][layer]
        if not xs:
            continue
        r = (
            corr[(corr.layer == layer) & (corr.statistic == "nonlinear_score")]
            if len(corr)
            else corr
        )
        rho = f": ρ = {_iv(*r[['rho', 'rho_low', 'rho_high']].iloc[0])}" if len(r) else ""
        name = fg._short(layer.removeprefix("head."), i)
        ax.scatter(xs, ys, s=4, alpha=0.35, color=colours[i], rasterized=True, label=name + rho)
        drawn = True
    if not drawn:
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            "no activation statistics of these runs: kedro run --pipelines=activation_analysis",
            ha="center",
            va="center",
            wrap=True,
            fontsize=9,
        )
        return
    ax.set(
        xlabel="nonlinear_score (final model)",
        ylabel="soft α before hardening",
        title="α against nonlinear_score, every neuron of every seed",
    )
    ax.title.set_fontsize(9)
    ax.legend(
        fontsize=7, markerscale=3, title="layer: Spearman ρ, mean [95 % CI]", title_fontsize=7
    )
