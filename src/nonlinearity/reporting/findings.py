"""What the runs let the report say: claims with their numbers and the test behind them.

Every sentence of the executive summary is a *claim*: `{id, kind, setting, sentence,
verdict, numbers, test}`. The sentence is worded from the verdict of an interval
(`stats`), never from a mean alone, so two sweeps of the same code cannot make
contradicting claims unless their intervals say so; findings.json keeps the numbers
and the test so a reader can check each one. The rest of the findings answer the
guide's §7 secondary questions, the Task 6 ablations and the §19 checklist, each with
its numbers and a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from ..params import ReportingConfig
from . import attention, compare, stats
from .collect import failed_runs
from .neurons import neuron_findings

# --- wording --------------------------------------------------------------------------


def pct(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.{digits}f} %"


def pp(x: float | None, digits: int = 2) -> str:
    """A signed difference of shares in percentage points."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{'+' if x >= 0 else '−'}{abs(100 * x):.{digits}f} pp"


def ci(low: float | None, high: float | None, f=pp) -> str:
    return "one seed, no interval" if low is None else f"95 % CI {f(low)} to {f(high)}"


def neg(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else -x


def accuracy_change(r: Mapping[str, Any]) -> str:
    """A drop row as the change of test accuracy against all-ReLU (run − baseline), with its
    interval, seeds and the test set's resolution."""
    n = int(r["drop_n"])
    seeds = "" if n == 1 else f"; {n} seeds"
    return (
        f"Δ accuracy {pp(neg(r['drop_mean']))} ({ci(neg(r['drop_high']), neg(r['drop_low']))}"
        f"{seeds}{_res(r['resolution'])})"
    )


def _seeds(n: int) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"


def _res(r: float | None) -> str:
    return "" if r is None else f"; one test sample = {pct(r, 2)}"


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}×"


def _claim(kind: str, setting: str, sentence: str, verdict: str, numbers, test) -> dict:
    return {
        "id": f"{kind}:{setting}" + (f":{numbers['label']}" if "label" in numbers else ""),
        "kind": kind,
        "setting": setting,
        "sentence": sentence,
        "verdict": verdict,
        "numbers": _plain(numbers),
        "test": test,
    }


def _plain(x: Any) -> Any:
    """JSON values: numpy scalars to Python, NaN to None."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(x) else float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


PAIRED_T = "paired differences against the same-seed all-ReLU run; Student-t 95 % interval"


# --- executive-summary claims ------------------------------------------------------------


def threshold_claim(setting: str, drops: pd.DataFrame, tol: float, synthetic: bool) -> dict:
    """The largest linear share whose paired drop is within tolerance (interval and all)."""
    tag = " (synthetic data)" if synthetic else ""
    # configurations with linear neurons, trained on the baseline's budget (pruned runs
    # fine-tune on top of theirs; a gated run hardened to 0 % linear is all-ReLU again)
    d = drops
    if len(d):  # no rows, nor columns, without a same-seed all-ReLU run (a gated sweep alone)
        d = d[(d.approach != "pruning") & (d.linear_ratio > 0)]
        d = d.sort_values(["linear_ratio", "drop_mean"])
    test = {"method": PAIRED_T, "tolerance": tol, "rule": "within only if the CI's upper end ≤ tol"}
    if d.empty:
        return _claim(
            "threshold",
            setting,
            f"**{setting}**{tag}: no all-ReLU baseline with runs of the same seeds to compare "
            "against, so no threshold.",
            stats.CANNOT_TELL,
            {},
            test,
        )
    within = d[d.verdict == stats.WITHIN]
    base = float(d.baseline_acc.mean())
    if len(within):
        best = within.sort_values(["linear_ratio", "drop_mean"], ascending=[False, True]).iloc[0]
        share = float(best.linear_ratio)
        what = (
            "a fully linear model"
            if share >= 1
            else f"{pct(1 - share, 0)} of the activation neurons nonlinear ({best.label})"
        )
        sentence = (
            f"**{setting}**{tag}: with {what}, test accuracy stays within {pct(tol)} of "
            f"all-ReLU ({pct(base, 2)}): {accuracy_change(best)}."
        )
        above = d[d.linear_ratio > share + 1e-9]
        if len(above):
            nxt = above.iloc[0]
            sentence += " " + _beyond(nxt)
        return _claim("threshold", setting, sentence, stats.WITHIN, _row_numbers(best), test)
    tell = d[d.verdict == stats.CANNOT_TELL]
    if len(tell):
        c = tell.sort_values("linear_ratio", ascending=False).iloc[0]
        need = (
            f"; about {int(c.seeds_needed)} seeds would tell (from the observed spread)"
            if pd.notna(c.seeds_needed)
            else (
                "; one seed has no spread: run ≥ 3 seeds to tell"
                if c.drop_n < 2
                else "; its mean drop is at or beyond the tolerance, so more seeds would "
                "not show it within"
            )
        )
        sentence = (
            f"**{setting}**{tag}: the data cannot tell whether any configuration with fewer "
            f"nonlinear neurons stays within {pct(tol)} of all-ReLU ({pct(base, 2)}): "
            f"{c.label} ({pct(c.linear_ratio, 0)} linear) has {accuracy_change(c)}{need}."
        )
        return _claim("threshold", setting, sentence, stats.CANNOT_TELL, _row_numbers(c), test)
    c = d.sort_values("drop_mean").iloc[0]
    sentence = (
        f"**{setting}**{tag}: every configuration with linear neurons loses more than "
        f"{pct(tol)} against all-ReLU ({pct(base, 2)}); the smallest loss is {c.label}'s: "
        f"{accuracy_change(c)}."
    )
    return _claim("threshold", setting, sentence, stats.BEYOND, _row_numbers(c), test)


def _beyond(r: pd.Series) -> str:
    words = {
        stats.BEYOND: "beyond the tolerance",
        stats.CANNOT_TELL: "the data cannot tell whether that is within the tolerance"
        + (f" (about {int(r.seeds_needed)} seeds would tell)" if pd.notna(r.seeds_needed) else ""),
        stats.WITHIN: "within the tolerance",
    }
    return (
        f"At {pct(r.linear_ratio, 0)} linear ({r.label}): {accuracy_change(r)}: {words[r.verdict]}."
    )


def _row_numbers(r: pd.Series) -> dict:
    keys = ["label", "linear_ratio", "test_acc", "baseline_acc", "drop_mean", "drop_low"]
    keys += ["drop_high", "drop_n", "drop_sd", "verdict", "seeds_needed", "resolution", "seeds"]
    return {k: r[k] for k in keys}


def speed_claim(setting: str, lat: pd.DataFrame) -> dict:
    """Unfolded 50 % linear and the folded models, against all-ReLU, from interleaved rounds."""
    test = {
        "method": "interleaved rounds (run and its same-seed all-ReLU run timed in turn); "
        "geometric-mean time ratio with a Student-t 95 % interval on log ratios",
        "rule": "faster/slower only when the interval excludes 1",
    }
    if lat.empty:
        return _claim(
            "speed",
            setting,
            f"**{setting}**: latency was not measured (`kedro run --pipelines=benchmark` "
            "times every run in interleaved rounds); no speed claim.",
            "not measured",
            {},
            test,
        )
    parts, numbers = [], {}
    fixed = lat[(lat.approach == "fixed") & ~lat.folded & (lat.label != "fixed 0%")]
    half = fixed[fixed.label == "fixed 50%"]
    pick = half if len(half) else fixed
    if len(pick):
        label = pick.label.iloc[0]
        by_bs = pick[pick.label == label].sort_values("batch_size")
        parts.append(
            f"unfolded, {label} takes " + "; ".join(_speed(r) for _, r in by_bs.iterrows())
        )
        numbers["unfolded"] = by_bs[_LAT_KEYS].to_dict(orient="records")
    folded = lat[lat.folded]
    for label, g in folded.groupby("label", sort=True):
        rows = g.sort_values("batch_size")
        parts.append(f"{label} takes " + "; ".join(_speed(r) for _, r in rows.iterrows()))
        numbers.setdefault("folded", []).extend(rows[_LAT_KEYS].to_dict(orient="records"))
    if not parts:
        parts.append("only all-ReLU runs were timed")
    # the claim's verdict: the unfolded mixed model at the largest batch size
    verdict = numbers["unfolded"][-1]["verdict"] if "unfolded" in numbers else "not measured"
    r0 = lat.iloc[0]
    sentence = (
        f"**{setting}**: " + "; ".join(parts) + f" ({_device(r0)}, interleaved rounds against "
        "the same-seed all-ReLU model)."
    )
    return _claim("speed", setting, sentence, verdict, numbers, test)


_LAT_KEYS = ["label", "batch_size", "ratio_mean", "ratio_low", "ratio_high", "verdict", "p50_ms"]
_LAT_KEYS += ["baseline_p50_ms", "ratio_n", "runs"]


def _speed(r: pd.Series) -> str:
    what = r.verdict if r.verdict != stats.NO_DIFFERENCE else "no measurable difference"
    low = "n/a" if r.ratio_low is None or pd.isna(r.ratio_low) else _ratio(r.ratio_low)
    high = "n/a" if r.ratio_high is None or pd.isna(r.ratio_high) else _ratio(r.ratio_high)
    return (
        f"{_ratio(r.ratio_mean)} the all-ReLU time at batch {r.batch_size} "
        f"(95 % CI {low}–{high}: {what})"
    )


def _device(r: pd.Series) -> str:
    n = int(r.threads) if pd.notna(r.threads) else None
    threads = "" if n is None else f", {n} thread{'s' if n != 1 else ''}"
    return f"{r.device}{threads}"


def gating_claims(setting: str, summary: pd.DataFrame) -> list[dict]:
    """Each gated variant against the fixed run at its hardened per-layer shares (matched),
    paired by seed, at the budgets they ran (equal when the epochs agree)."""
    g = summary[summary.setting == setting]
    out = []
    for label in sorted(g[g.approach == "gating"].label.unique()):
        variant = label.removeprefix("gated ")
        gated = (g.approach == "gating") & (g.label == label)
        matched = (g.approach == "matched") & (g.label == f"matched gated-{variant}")
        test = {"method": "paired by seed (gated − matched fixed); Student-t 95 % interval"}
        if not matched.any():
            continue
        diff, seeds = compare.difference(g, gated, matched)
        ge, me = sorted(set(g[gated].epochs)), sorted(set(g[matched].epochs))
        budget = (
            f"equal budget, {ge[0]} epochs each"
            if ge == me and len(ge) == 1
            else f"as run: gated {'/'.join(map(str, ge))} epochs, fixed "
            f"{'/'.join(map(str, me))} (not equal)"
        )
        verdict = stats.sign_verdict(diff)
        share = float(g[gated].linear_ratio.mean())
        words = {
            stats.HIGHER: "gating is more accurate",
            stats.LOWER: "gating is less accurate",
            stats.NO_DIFFERENCE: "no measurable difference",
        }[verdict]
        sentence = (
            f"**{setting}**: {label} ({pct(share, 0)} linear after hardening) against a fixed "
            f"random mask at the same per-layer shares: Δ accuracy {pp(diff.mean)} "
            f"({ci(diff.low, diff.high)}; {_seeds(diff.n)}; {budget}): {words}."
        )
        numbers = {
            "label": label,
            "linear_ratio": share,
            **compare.interval_columns(diff, "diff_"),
            "seeds": seeds,
            "gated_epochs": ge,
            "matched_epochs": me,
        }
        out.append(_claim("gating_vs_fixed", setting, sentence, verdict, numbers, test))
    return out


# --- §7 secondary questions -----------------------------------------------------------------


def _val_curve(history: list[dict]) -> list[tuple[int, float]]:
    return [
        (r["epoch"], r["val_acc"])
        for r in history
        if isinstance(r.get("epoch"), int) and r.get("val_acc") is not None
    ]


def convergence(summary: pd.DataFrame, runs: Mapping[str, Mapping]) -> pd.DataFrame:
    """Epochs to reach 99 % of the same-seed all-ReLU run's final val accuracy, per
    configuration over seeds (runs that never reach it are counted apart)."""
    base = summary[compare.is_baseline(summary)].drop_duplicates(["setting", "seed"])
    final = {
        (r.setting, r.seed): (_val_curve(runs[r.run]["history"]) or [(0, math.nan)])[-1][1]
        for r in base.itertuples()
    }
    rows = []
    trained = summary[summary.approach != "pruning"]
    for (setting, label, approach), g in trained.groupby(compare.LABEL_COLUMNS, sort=True):
        reached, missed = [], 0
        for r in g.itertuples():
            target = final.get((r.setting, r.seed))
            if target is None or math.isnan(target):
                continue
            hit = [e for e, v in _val_curve(runs[r.run]["history"]) if v >= 0.99 * target]
            if hit:
                reached.append(hit[0])
            else:
                missed += 1
        if not reached and not missed:
            continue
        iv = stats.mean_interval(reached)
        rows.append(
            {
                "setting": setting,
                "label": label,
                "approach": approach,
                "linear_ratio": g.linear_ratio.mean(),
                **compare.interval_columns(iv, "epochs_"),
                "not_reached": missed,
            }
        )
    return pd.DataFrame(rows)


def gen_gap(summary: pd.DataFrame) -> pd.DataFrame:
    """Per fixed ratio: the gap (train − val accuracy) over seeds and its paired change
    against the same-seed all-ReLU run, worded by sign and size."""
    fixed = summary[(summary.approach == "fixed") & summary.nominal_ratio.notna()]
    rows = []
    pairs = compare.paired(fixed, "gen_gap")
    for (setting, ratio), g in fixed.dropna(subset=["gen_gap"]).groupby(
        ["setting", "nominal_ratio"], sort=True
    ):
        gap = stats.mean_interval(g.gen_gap)
        p = pairs[(pairs.setting == setting) & np.isclose(pairs.nominal_ratio, ratio)]
        change = stats.mean_interval(-p["diff"]) if len(p) else None  # run − baseline
        base = stats.mean_interval(p.gen_gap_baseline) if len(p) else None
        rows.append(
            {
                "setting": setting,
                "ratio": ratio,
                **compare.interval_columns(gap, "gap_"),
                **(
                    compare.interval_columns(change, "change_") if change else {"change_mean": None}
                ),
                "words": _gap_words(base, gap, change) if change else "",
            }
        )
    return pd.DataFrame(rows)


def _gap_words(base: stats.Interval, gap: stats.Interval, change: stats.Interval) -> str:
    """How the gap moved, by its sign and size: widens, narrows, changes sign, or no change."""
    if not change.excludes(0.0):
        return "no measurable change"
    if (base.mean >= 0) != (gap.mean >= 0):
        return "changes sign"
    return "widens" if abs(gap.mean) > abs(base.mean) else "narrows"


def complexity(claims: list[dict]) -> list[dict]:
    """§7 data-set complexity: the threshold claim of every setting, side by side."""
    out = []
    for c in claims:
        if c["kind"] != "threshold":
            continue
        n = c["numbers"]
        out.append(
            {
                "setting": c["setting"],
                "verdict": c["verdict"],
                "largest_linear_share_within": n.get("linear_ratio")
                if c["verdict"] == stats.WITHIN
                else None,
                "config": n.get("label"),
                "drop_mean": n.get("drop_mean"),
                "drop_low": n.get("drop_low"),
                "drop_high": n.get("drop_high"),
                "seeds": n.get("drop_n"),
                "baseline_acc": n.get("baseline_acc"),
                "resolution": n.get("resolution"),
            }
        )
    return out


# --- Task 6 ablations ---------------------------------------------------------------------


def ablations(summary: pd.DataFrame) -> dict[str, list[dict]]:
    """Layer-wise schedules against the fixed run at their mean share; pruning after gating
    against pruning after all-ReLU training (gated vs matched fixed: `gating_claims`)."""
    out: dict[str, list[dict]] = {"schedules": [], "pruning_sources": []}
    for setting, g in summary.groupby("setting", sort=True):
        fixed = g[(g.approach == "fixed") & (g.pattern.fillna("random") == "random")]
        for label in sorted(g[g.approach == "layerwise"].label.unique()):
            lw = (g.approach == "layerwise") & (g.label == label)
            share = float(g[lw].linear_ratio.mean())
            near = fixed[np.isclose(fixed.nominal_ratio, share, atol=0.02)]
            row: dict[str, Any] = {"setting": setting, "label": label, "linear_ratio": share}
            if near.empty:
                row["against"] = None
                row["words"] = f"no fixed run at {pct(share, 0)} linear to compare with"
            else:
                uniform = g.run.isin(near.run)
                diff, seeds = compare.difference(g, lw, uniform)
                row |= {
                    "against": near.label.iloc[0],
                    **compare.interval_columns(diff, "diff_"),
                    "seeds": seeds,
                    "verdict": stats.sign_verdict(diff),
                }
            out["schedules"].append(_plain(row))
        pruned = g[g.approach == "pruning"]
        relu = pruned.label == "pruned fixed_0"
        for label in sorted(pruned[pruned.label.str.startswith("pruned gated-")].label.unique()):
            a = (g.approach == "pruning") & (g.label == label)
            b = (g.approach == "pruning") & (g.label == "pruned fixed_0")
            row = {"setting": setting, "label": label, "against": "pruned fixed_0"}
            if not relu.any():
                row["words"] = "no pruned all-ReLU run to compare with"
            else:
                acc, seeds = compare.difference(g, a, b, "test_acc")
                share, _ = compare.difference(g, a, b, "linear_ratio")
                row |= {
                    **compare.interval_columns(acc, "acc_diff_"),
                    **compare.interval_columns(share, "share_diff_"),
                    "seeds": seeds,
                    "acc_verdict": stats.sign_verdict(acc),
                    "share_verdict": stats.sign_verdict(share),
                    "linear_ratio": float(g[a].linear_ratio.mean()),
                    "against_linear_ratio": float(g[b].linear_ratio.mean()),
                }
            out["pruning_sources"].append(_plain(row))
    return out


# --- §19 checklist --------------------------------------------------------------------------


def _item(item: str, verdict: str, detail: str, numbers: Any = None) -> dict:
    return {"item": item, "verdict": verdict, "detail": detail, "numbers": _plain(numbers)}


def checklist(
    summary: pd.DataFrame,
    runs: Mapping[str, Mapping],
    drops: pd.DataFrame,
    lat_rounds: pd.DataFrame,
    j: ReportingConfig,
) -> list[dict]:
    return [
        _stable_across_seeds(summary, j),
        _alpha_converged(summary, runs, j),
        _latency_batch(lat_rounds),
        _representative_stats(summary, runs, j),
        _layers_consistent(summary, runs, j),
        _cross_domain(drops),
        _hardening(summary, runs, j),
        _pruning_documented(summary, runs),
    ]


def _stable_across_seeds(summary: pd.DataFrame, j: ReportingConfig) -> dict:
    what = "Accuracy vs ratio curves stable across random seeds"
    fixed = summary[(summary.approach == "fixed") & summary.nominal_ratio.notna()]
    spread = fixed.groupby(["setting", "nominal_ratio"]).test_acc.agg(["std", "count"])
    if spread.empty or spread["count"].max() < 2:
        return _item(what, "cannot tell", "one seed per ratio: no spread to judge (run ≥ 3 seeds)")
    worst = spread["std"].max()
    ok = worst <= j.tolerance
    return _item(
        what,
        "yes" if ok else "no",
        f"largest seed-to-seed sd of test accuracy at one ratio: {pct(worst, 2)} "
        f"({'≤' if ok else '>'} the {pct(j.tolerance)} tolerance the drops are judged by; "
        f"{int(spread['count'].min())}–{int(spread['count'].max())} seeds per ratio)",
        spread.reset_index().to_dict(orient="records"),
    )


def _soft_gating(history: list[dict]) -> list[list[dict]]:
    return [r["gating"] for r in history if r.get("phase") == "train" and r.get("gating")]


def _alpha_converged(summary: pd.DataFrame, runs: Mapping, j: ReportingConfig) -> dict:
    what = "Gating α distributions converged (not random noise)"
    gated = summary[summary.approach == "gating"].run
    moves = {}
    for run in gated:
        soft = _soft_gating(runs[run]["history"])
        if len(soft) <= j.alpha_window:
            continue
        last, before = soft[-1], soft[-1 - j.alpha_window]
        moves[run] = max(
            abs(a["alpha_mean"] - b["alpha_mean"]) for a, b in zip(last, before, strict=False)
        )
    if not moves:
        return _item(what, "not run", "no gated runs with enough soft epochs")
    worst = max(moves.values())
    ok = worst <= j.alpha_change
    return _item(
        what,
        "yes" if ok else "no",
        f"largest change of a layer's mean α over the last {j.alpha_window} soft epochs: "
        f"{worst:.3f} ({'≤' if ok else '>'} {j.alpha_change}; {len(moves)} gated runs)",
        moves,
    )


def _latency_batch(lat_rounds: pd.DataFrame) -> dict:
    what = "Latency gains measured with a consistent batch size"
    if lat_rounds.empty:
        return _item(what, "not run", "latency was not measured (kedro run --pipelines=benchmark)")
    per_setting = lat_rounds.groupby("setting").apply(
        lambda g: sorted(set(g.batch_size)), include_groups=False
    )
    sizes = {tuple(v) for v in per_setting}
    runs_per = lat_rounds.groupby(["setting", "batch_size"]).run.nunique()
    every = lat_rounds.groupby("setting").run.nunique()
    ok = all(runs_per[s].min() == every[s] for s in every.index)
    batch_sizes = ", ".join(map(str, sorted({b for v in sizes for b in v})))
    return _item(
        what,
        "yes" if ok else "no",
        f"every run of a setting timed at the same batch sizes ({batch_sizes}) "
        "in interleaved rounds against its same-seed all-ReLU run"
        if ok
        else "some runs were not timed at every batch size",
        per_setting.to_dict(),
    )


def _representative_stats(summary: pd.DataFrame, runs: Mapping, j: ReportingConfig) -> dict:
    what = "Activation stats collected on a representative data subset"
    rows = []
    for run in summary.run:
        s = runs[run].get("activation_stats") or {}
        sample, split = s.get("sample_class_counts"), s.get("split_class_counts")
        if not s:
            continue
        tv = None
        if sample and split:
            keys = set(sample) | set(split)
            ns, nt = sum(sample.values()), sum(split.values())
            tv = 0.5 * sum(abs(sample.get(k, 0) / ns - split.get(k, 0) / nt) for k in keys)
        rows.append(
            {
                "run": run,
                "split": s.get("split"),
                "samples": s.get("samples"),
                "tv": tv,
                "split_samples": sum(split.values()) if split else None,
            }
        )
    if not rows:
        return _item(
            what, "not run", "no activation statistics (kedro run --pipelines=activation_analysis)"
        )
    tvs = [r["tv"] for r in rows if r["tv"] is not None]
    if not tvs:
        return _item(what, "cannot tell", "the statistics do not record their class counts", rows)
    worst = max(tvs)
    ok = worst <= j.class_balance
    n = sorted({r["samples"] for r in rows})
    return _item(
        what,
        "yes" if ok else "no",
        f"{len(rows)} runs analysed on {', '.join(map(str, n))} samples of the "
        f"{rows[0]['split']} split; largest class-share distance to the split: {worst:.3f} "
        f"({'≤' if ok else '>'} {j.class_balance})",
        rows,
    )


def hardened_shares(history: list[dict]) -> list[float]:
    hard = [r for r in history if r.get("epoch") == "hardened"]
    return [1 - s["alpha_mean"] for s in (hard[-1].get("gating") or [])] if hard else []


def _layers_consistent(summary: pd.DataFrame, runs: Mapping, j: ReportingConfig) -> dict:
    what = "Layer-wise behaviour consistent across runs (not an artefact)"
    gated = summary[summary.approach == "gating"]
    out = {}
    for (setting, label), g in gated.groupby(["setting", "label"]):
        shares = [hardened_shares(runs[r]["history"]) for r in g.run]
        shares = [s for s in shares if s]
        if len(shares) < 2 or len({len(s) for s in shares}) > 1:
            continue
        a = np.array(shares)
        slopes = [np.polyfit(range(a.shape[1]), s, 1)[0] if a.shape[1] > 1 else 0.0 for s in a]
        out[f"{setting} {label}"] = {
            "sd_per_layer": a.std(axis=0, ddof=1).tolist(),
            "mean_per_layer": a.mean(axis=0).tolist(),
            "slope_signs": sorted({int(np.sign(round(s, 3))) for s in slopes}),
            "seeds": len(shares),
        }
    if not out:
        return _item(what, "cannot tell", "fewer than two seeds of a gated configuration")
    worst = max(max(v["sd_per_layer"]) for v in out.values())
    signs = all(len(v["slope_signs"]) == 1 for v in out.values())
    ok = worst <= j.layer_spread and signs
    return _item(
        what,
        "yes" if ok else "no",
        f"gated per-layer linear shares across seeds: largest sd {pct(worst, 1)} "
        f"({'≤' if worst <= j.layer_spread else '>'} {pct(j.layer_spread, 0)}); the trend with "
        f"depth has {'the same' if signs else 'a different'} sign in every seed",
        out,
    )


def _cross_domain(drops: pd.DataFrame) -> dict:
    what = "Report includes a cross-domain comparative table"
    settings = sorted(drops.setting.unique()) if len(drops) else []
    if len(settings) >= 2:
        return _item(what, "yes", f"{len(settings)} settings: {', '.join(settings)}", settings)
    return _item(
        what,
        "partial" if settings else "no",
        f"the table is there, with {len(settings)} setting{'s' if len(settings) != 1 else ''}: "
        "run the sweep on other data sets (--params=dataset=…) to compare domains",
        settings,
    )


def _hardening(summary: pd.DataFrame, runs: Mapping, j: ReportingConfig) -> dict:
    what = "Hardening step does not cause an accuracy collapse"
    rows = []
    for r in summary[summary.approach == "gating"].itertuples():
        h = runs[r.run]["history"]
        soft = [x for x in h if x.get("phase") == "train" and x.get("val_acc") is not None]
        hard = [x for x in h if x.get("epoch") == "hardened"]
        if soft and hard:
            rows.append(
                {
                    "run": r.run,
                    "setting": r.setting,
                    "label": r.label,
                    "before": soft[-1]["val_acc"],
                    "after": hard[-1]["val_acc"],
                }
            )
    if not rows:
        return _item(what, "not run", "no gated runs")
    df = pd.DataFrame(rows)
    drop = stats.mean_interval(df.before - df.after)
    if drop.low is None:
        verdict = "cannot tell"
    elif drop.high <= j.hardening_collapse:
        verdict = "yes"
    elif drop.low > j.hardening_collapse:
        verdict = "no"
    else:
        verdict = "cannot tell"
    return _item(
        what,
        verdict,
        f"val accuracy before → after hardening: {pct(df.before.mean(), 2)} → "
        f"{pct(df.after.mean(), 2)}; paired drop {pp(drop.mean)} ({ci(drop.low, drop.high)}, "
        f"{len(df)} runs) against a collapse threshold of {pct(j.hardening_collapse, 0)}",
        rows,
    )


def _pruning_documented(summary: pd.DataFrame, runs: Mapping) -> dict:
    what = "Pruning changes documented with before/after metrics"
    rows = []
    for r in summary[summary.approach == "pruning"].itertuples():
        meta = runs[r.run]["meta"]
        m, folding = meta.get("metrics") or {}, meta.get("folding") or {}
        rows.append(
            {
                "run": r.run,
                "label": r.label,
                "source_test_acc": m.get("source_test_acc"),
                "val_acc_before_pruning": m.get("val_acc_before_pruning"),
                "val_acc_pruned": m.get("val_acc_pruned"),
                "test_acc": m.get("test_acc"),
                "linear_ratio": m.get("linear_ratio"),
                "folded_exact": folding.get("exact"),
                "fold_max_abs_diff": folding.get("max_abs_diff"),
            }
        )
    if not rows:
        return _item(what, "not run", "no pruned runs (kedro run --pipelines=pruning)")
    complete = all(
        r[k] is not None for r in rows for k in ("source_test_acc", "val_acc_pruned", "test_acc")
    )
    return _item(
        what,
        "yes" if complete else "no",
        f"{len(rows)} pruned runs, each with its source's test accuracy, val accuracy before "
        "and after pruning, after fine-tuning, and the fold's exactness (table in §6)"
        if complete
        else "some pruned runs lack before/after metrics",
        rows,
    )


# --- everything --------------------------------------------------------------------------------


def findings(
    summary: pd.DataFrame,
    layers: pd.DataFrame,
    runs: Mapping[str, Mapping[str, Any]],
    judgement: ReportingConfig | None = None,
) -> dict[str, Any]:
    """Claims, secondary questions, ablations and checklist, with numbers; none typed in."""
    j = judgement or ReportingConfig()
    drops = compare.drop_table(summary, j.tolerance) if len(summary) else pd.DataFrame()
    lat_rounds, stale = (
        compare.latency_rounds(runs, summary)
        if len(summary)
        else (
            pd.DataFrame(columns=["setting", "run", "batch_size"]),
            [],
        )
    )
    lat = compare.latency_table(lat_rounds) if len(lat_rounds) else pd.DataFrame()
    claims: list[dict] = []
    for setting, g in summary.groupby("setting", sort=True):
        d = drops[drops.setting == setting] if len(drops) else drops
        claims.append(threshold_claim(setting, d, j.tolerance, bool(g.synthetic.any())))
        claims.append(speed_claim(setting, lat[lat.setting == setting] if len(lat) else lat))
        claims += gating_claims(setting, summary)
    from .robustness import robustness_claims, robustness_table  # it words with this module

    robust = robustness_table(summary, runs)  # accuracy under attack against all-ReLU
    claims += robustness_claims(robust)
    conv = convergence(summary, runs) if len(summary) else pd.DataFrame()
    gap = gen_gap(summary) if len(summary) else pd.DataFrame()
    return _plain(
        {
            "judgement": asdict(j),
            "claims": claims,
            "drops": drops.to_dict(orient="records"),
            "latency": lat.to_dict(orient="records"),
            "latency_stale_runs": stale,
            "secondary": {
                "convergence": conv.to_dict(orient="records"),
                "complexity": complexity(claims),
                "generalisation_gap": gap.to_dict(orient="records"),
            },
            "ablations": ablations(summary) if len(summary) else {},
            "checklist": checklist(summary, runs, drops, lat_rounds, j) if len(summary) else [],
            "failed_runs": failed_runs(runs),
            "robustness": robust.to_dict(orient="records"),
            "neurons": neuron_findings(summary, runs),  # which neurons stay nonlinear
            "module_kinds": attention.kind_findings(summary, runs),  # gated attention sites
            "layers_linearized": layers[layers.linearized.astype(bool)][["run", "layer"]].to_dict(
                orient="records"
            )
            if len(layers)
            else [],
        }
    )
