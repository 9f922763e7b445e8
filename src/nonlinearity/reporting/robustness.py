"""Accuracy under attack against the linear share: the table, the claim, the figure, the section.

Each run's robustness.json (`measure/robustness.py`) holds its clean accuracy and its
accuracy under each attack and ε on the same samples. A *condition* is one of those
(`clean`, `FGSM ε=…`, `PGD-10 ε=…`). Per configuration (`label`: a run's settings but
its seed) and condition, accuracy is summarised over seeds with the Student-t 95 %
interval, and compared with the all-ReLU run of the same seed, paired:

    Δ_i = acc(run, seed i) − acc(all-ReLU, seed i)        under the same condition

    more robust            the interval of Δ̄ lies above 0
    less robust            it lies below 0
    the data cannot tell   it contains 0, or one seed (no interval)

`kept` = accuracy under attack / clean accuracy, the share of correct answers an attack
leaves, gets the same paired interval: it separates robustness from clean accuracy. The
report's sentence per data set and model answers at the strongest condition (PGD at the
largest ε; FGSM where PGD was not run) for the fixed random-pattern linear shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import compare, figures, stats
from .findings import PAIRED_T, _claim, ci, pct, pp

CLEAN = "clean"
TITLE = "Accuracy under attack vs linear share"
WORDS = {stats.HIGHER: "more robust", stats.LOWER: "less robust"}
CANNOT_TELL = "the data cannot tell"
RUN_COLUMNS = ["run", "setting", "label", "approach", "pattern", "nominal_ratio"]
RUN_COLUMNS += ["linear_ratio", "seed", "synthetic"]


def _condition(r: Mapping[str, Any], pgd: Mapping[str, Any]) -> str:
    if r["attack"] == "pgd":
        return f"PGD-{pgd.get('steps')} ε={r['epsilon']:g}"
    return f"{r['attack'].upper()} ε={r['epsilon']:g}"


def attack_rows(summary: pd.DataFrame, runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (run, condition): the run's summary columns, `condition`, `attack`,
    `epsilon`, `acc` and `kept`. Runs without robustness.json, with one for another record
    (its fingerprint) or with the attack not applicable are left out."""
    rows = []
    for r in summary[RUN_COLUMNS].to_dict(orient="records"):
        rec = runs.get(r["run"]) or {}
        rob = rec.get("robustness") or {}
        if "results" not in rob or rob.get("fingerprint") != rec["meta"].get("fingerprint"):
            continue
        clean = rob["clean_acc"]
        sample = f"{rob.get('split')} {rob.get('samples')}"
        base = {**r, "sample": sample, "unit": rob.get("epsilon_unit")}
        rows.append({**base, "condition": CLEAN, "attack": CLEAN, "epsilon": 0.0, "acc": clean})
        for a in rob["results"]:
            kept = a["acc"] / clean if clean else None
            cond = _condition(a, rob.get("pgd") or {})
            rows.append({**base, "condition": cond, **_pick(a), "kept": kept})
    cols = [*RUN_COLUMNS, "sample", "unit", "condition", "attack", "epsilon", "acc", "kept"]
    df = pd.DataFrame(rows, columns=cols)
    # runs of one setting attacked on other samples are conditions apart, never averaged
    many = df.groupby("setting")["sample"].transform("nunique") > 1
    df.loc[many, "condition"] += " [" + df.loc[many, "sample"] + "]"
    return df


def _pick(a: Mapping[str, Any]) -> dict:
    return {"attack": a["attack"], "epsilon": a["epsilon"], "acc": a["acc"]}


def _order(df: pd.DataFrame) -> list[str]:
    """Conditions: clean, then FGSM, then PGD, each by ε."""
    first = df.drop_duplicates("condition")
    rank = {CLEAN: 0, "fgsm": 1, "pgd": 2}
    keys = zip(first.attack.map(rank), first.epsilon, first.condition, strict=True)
    return [c for *_, c in sorted(keys)]


def robustness_table(summary: pd.DataFrame, runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Per (setting, label, condition): accuracy over seeds, its paired change against the
    same-seed all-ReLU run with verdict, and the same for `kept`."""
    rows_ = attack_rows(summary, runs) if len(summary) else pd.DataFrame()
    out = []
    for cond in _order(rows_) if len(rows_) else []:
        c = rows_[rows_.condition == cond]
        accs = compare.seed_table(c, "acc")
        pattern = c.groupby(["setting", "label"]).pattern.first()
        pairs = compare.paired(c, "acc")
        kept = compare.paired(c.dropna(subset=["kept"]), "kept") if cond != CLEAN else None
        for r in accs.to_dict(orient="records"):
            key = (pairs.setting == r["setting"]) & (pairs.label == r["label"])
            change = stats.mean_interval(-pairs[key]["diff"]) if key.any() else None
            row = {
                "setting": r["setting"],
                "label": r["label"],
                "approach": r["approach"],
                "linear_ratio": r["linear_ratio"],
                "pattern": pattern.get((r["setting"], r["label"])),
                "condition": cond,
                "attack": c.attack.iloc[0],
                "epsilon": float(c.epsilon.iloc[0]),
                "unit": c.unit.iloc[0],
                "seeds": r["seeds"],
                **{f"acc_{k}": r[k] for k in ("mean", "low", "high", "n")},
                **_change(change, "change_"),
                "verdict": stats.sign_verdict(change) if change else None,
            }
            if kept is not None:
                k = kept[(kept.setting == r["setting"]) & (kept.label == r["label"])]
                iv = stats.mean_interval(-k["diff"]) if len(k) else None
                row |= _change(iv, "kept_change_")
                row["kept_verdict"] = stats.sign_verdict(iv) if iv else None
            out.append(row)
    return pd.DataFrame(out)


def _change(iv: stats.Interval | None, prefix: str) -> dict[str, Any]:
    if iv is None:
        return {f"{prefix}{k}": None for k in ("mean", "low", "high", "n", "sd")}
    return compare.interval_columns(iv, prefix)


# --- the claim -----------------------------------------------------------------------------


def _strongest(t: pd.DataFrame) -> str | None:
    attacked = t[t.attack != CLEAN]
    if attacked.empty:
        return None
    pgd = attacked[attacked.attack == "pgd"]
    pick = pgd if len(pgd) else attacked
    return str(pick.sort_values("epsilon").condition.iloc[-1])


def robustness_claims(table: pd.DataFrame) -> list[dict]:
    """Per setting with attacked runs: does removing nonlinearity make the model more or
    less robust? Each fixed random-pattern share against all-ReLU at the strongest
    condition, paired over seeds; more (less) robust only where the interval says so."""
    out = []
    if table.empty:
        return out
    for setting, t in table.groupby("setting", sort=True):
        cond = _strongest(t)
        fixed = t[
            (t.condition == cond)
            & (t.approach == "fixed")
            & (t.linear_ratio > 0)
            & t.pattern.fillna("random").eq("random")
            & t.change_mean.notna()
        ].sort_values("linear_ratio")
        if cond is None or fixed.empty:
            continue
        verdicts = set(fixed.verdict)
        if stats.HIGHER in verdicts and stats.LOWER in verdicts:
            verdict = "mixed"
        elif verdicts & {stats.HIGHER, stats.LOWER}:
            verdict = WORDS[(verdicts & {stats.HIGHER, stats.LOWER}).pop()]
        else:
            verdict = CANNOT_TELL
        answer = {
            "mixed": "removing nonlinearity makes the model more robust at some linear shares "
            "and less robust at others",
            CANNOT_TELL: "the data cannot tell whether removing nonlinearity changes robustness",
        }.get(verdict, f"removing nonlinearity makes the model {verdict}")
        parts = [
            f"{pct(r.linear_ratio, 0)} linear {pp(r.change_mean)} "
            f"({ci(r.change_low, r.change_high)}; {WORDS.get(r.verdict, CANNOT_TELL)})"
            for r in fixed.itertuples()
        ]
        n = int(fixed.acc_n.max())
        sentence = (
            f"**{setting}**: under {cond}, {answer}: accuracy under "
            f"attack against the same-seed all-ReLU run, {'; '.join(parts)} "
            f"({n} seed{'s' if n != 1 else ''})."
        )
        numbers = {
            "condition": cond,
            "shares": fixed[
                ["linear_ratio", "change_mean", "change_low", "change_high", "change_n", "verdict"]
            ].to_dict(orient="records"),
        }
        test = {"method": PAIRED_T, "rule": "more/less robust only if the CI excludes 0"}
        out.append(_claim("robustness", setting, sentence, verdict, numbers, test))
    return out


# --- the figure ----------------------------------------------------------------------------


def _colours(conditions: list[str]) -> dict[str, Any]:
    """Clean black; FGSM blues and PGD reds, darker for larger ε."""
    out: dict[str, Any] = {CLEAN: (0.15, 0.15, 0.15)}
    for attack, palette in (("FGSM", "Blues"), ("PGD", "Reds")):
        mine = [c for c in conditions if c.startswith(attack)]
        shades = sns.color_palette(palette, len(mine) + 2)[2:]
        out |= dict(zip(mine, shades, strict=True))
    return out


def accuracy_under_attack(summary: pd.DataFrame, runs: Mapping | None = None) -> Figure:
    """Accuracy, clean and under each attack and ε, against the linear share: per
    configuration its mean ± 95 % CI over seeds; colour is the condition, marker the
    approach; lines join the fixed random-pattern shares."""
    rows = attack_rows(summary, runs or {}) if len(summary) else pd.DataFrame()
    empty = "no run has robustness.json: run kedro run --pipelines=robustness"
    if rows.empty:
        return figures._empty(TITLE, empty)
    order = _order(rows)
    colours = _colours(order)
    table = pd.concat(
        [figures._configs(rows[rows.condition == c], "acc").assign(condition=c) for c in order]
    )

    def draw(ax, g: pd.DataFrame, legend: dict) -> None:
        for cond in [c for c in order if c in set(g.condition)]:
            colour = colours[cond]
            pts = g[g.condition == cond]
            line = pts[pts.random].sort_values("x")
            if len(line) > 1:
                ax.plot(line.x, line["mean"], color=colour, lw=1.2, zorder=2)
            for kind, k in pts.groupby("kind"):
                marker = figures._look(kind)[1]
                for single, s in k.groupby(k.n < 2):
                    ax.errorbar(
                        s.x,
                        s["mean"],
                        yerr=None if single else figures._errors(s.low, s["mean"], s.high),
                        fmt=marker,
                        color=colour,
                        mfc=figures.HOLLOW if single else colour,
                        ms=5.5,
                        capsize=2.5,
                        elinewidth=1.0,
                    )
                legend.setdefault(kind, figures._proxy(marker, "grey", "grey"))
            legend.setdefault(cond, Line2D([], [], color=colour, marker="o", lw=1.2))
        if (g.n < 2).any():
            legend.setdefault(figures.ONE_SEED, figures._proxy("o", "grey", figures.HOLLOW))
        ax.set(xlabel="linear share of activation neurons", ylabel="accuracy", xlim=(-0.05, 1.05))
        ax.set_ylim(-0.02, 1.02)

    title = figures._ci_title(table.n) + "; colour: condition, marker: approach"
    return figures._by_setting(table, TITLE, empty, draw, title, summary)


# --- the report's section -------------------------------------------------------------------


def _signed(x: float) -> str:
    """Percentage points, signed, with the report's minus sign: `+0.3`, `−1.2`."""
    return f"{100 * x:+.1f}".replace("-", "−")


def _cell(r: Mapping[str, Any]) -> str:
    acc = pct(r["acc_mean"], 1)
    if r.get("change_mean") is None or np.isnan(r["change_mean"]):
        return acc
    if r.get("change_low") is None or np.isnan(r["change_low"]):
        return f"{acc} ({_signed(r['change_mean'])}, 1 seed)"
    lo, hi = _signed(r["change_low"]), _signed(r["change_high"])
    return f"{acc} ({_signed(r['change_mean'])} [{lo}, {hi}])"


def report_section(findings: Mapping[str, Any]) -> list[str]:
    """Robustness: the claims, then per data set and model one table, configurations by
    conditions, each cell the accuracy and its paired change against all-ReLU."""
    rows = pd.DataFrame(findings.get("robustness") or [])
    out = ["### Robustness: accuracy under attack (FGSM, PGD, guide §7)", ""]
    if rows.empty:
        return [*out, "_No run was attacked: run `kedro run --pipelines=robustness`._", ""]
    out += [
        "L∞ attacks in the model's input space before normalisation (docs/metrics.md, "
        '"Robustness"). Each cell: accuracy, mean over seeds, and in brackets its change '
        "against the same-seed all-ReLU run in percentage points with the 95 % interval "
        "(paired). The full table is `data/08_reporting/robustness.csv`.",
        "",
    ]
    claims = [c for c in findings.get("claims") or [] if c["kind"] == "robustness"]
    out += [f"- {c['sentence']}" for c in claims] + ([""] if claims else [])
    for setting, t in rows.groupby("setting", sort=True):
        conds = _order(t)
        units = t.unit.dropna()
        out += [f"**{setting}**" + (f" (ε: {units.iloc[0]})" if len(units) else ""), ""]
        header = ["configuration", "linear share", *conds]
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        labels = t.drop_duplicates("label").sort_values(["linear_ratio", "label"])
        for lab in labels.itertuples():
            cells = {r["condition"]: _cell(r) for r in t[t.label == lab.label].to_dict("records")}
            row = [lab.label, pct(lab.linear_ratio, 0), *(cells.get(c, "–") for c in conds)]
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    return out
