"""report.md in the structure of guide §13: every sentence is a claim from findings.json, every
difference with its interval."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from . import attention, robustness
from .findings import neg, pct, pp
from .neurons import report_section
from .relu_counts import report_section as relu_count_section

FIGURE_TITLES = {
    "accuracy_vs_ratio": "Accuracy vs linear ratio",
    "latency_vs_accuracy": "Latency vs accuracy (Pareto frontier)",
    "accuracy_vs_flops": "Accuracy vs FLOPs",
    "training_curves": "Training curves",
    "gate_dynamics": "Gate α during training, per layer",
    "alpha_distributions": "Gate α distributions per layer",
    "generalisation_gap": "Generalisation gap vs linear ratio",
    "nonlinear_units_vs_accuracy": "Nonlinear units vs accuracy",
    "layer_sensitivity": "Layer-wise sensitivity",
    "accuracy_vs_relu_count": "Accuracy vs ReLU count per sample",
    "accuracy_under_attack": "Accuracy under attack vs linear share",
    "neuron_agreement": "Which neurons stay nonlinear across seeds",
    "module_kinds": "Which module kinds gating keeps nonlinear",
}


def _num(x: Any, fmt: str = ".4f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return format(x, fmt)


def _table(df: pd.DataFrame, formats: Mapping[str, str]) -> str:
    if df.empty:
        return "_none_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            cells.append(_num(v, formats[c]) if c in formats else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(mean: Any, low: Any, high: Any, f=pp) -> str:
    """`−1.23 pp [−2.0, −0.4]`; one seed: the value and `(1 seed)`."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if low is None or (isinstance(low, float) and math.isnan(low)):
        return f"{f(mean)} (1 seed)"
    return f"{f(mean)} [{f(low)}, {f(high)}]"


def _drop_cell(
    r: Mapping[str, Any], mean: str = "drop_mean", low: str = "drop_low", high: str = "drop_high"
) -> str:
    """A drop (all-ReLU − run) shown as the change run − all-ReLU with its interval."""
    return _cell(neg(r[mean]), neg(r[high]), neg(r[low]))


def _acc(x: Any) -> str:
    return pct(x, 2)


def _x(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}×"


def _truncated(shown: int, total: int, where: str) -> list[str]:
    if shown >= total:
        return []
    return [f"_{shown} of {total} rows shown; the full table is `{where}`._", ""]


def _records_table(rows: list[dict], columns: dict[str, Any]) -> str:
    """A markdown table of `rows` with `columns` {header: row -> str}."""
    if not rows:
        return "_none_\n"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(f(r)) for f in columns.values()) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def build_report(
    findings: Mapping[str, Any],
    summary: pd.DataFrame,
    cross: pd.DataFrame,
    ranking: pd.DataFrame,
    layers: pd.DataFrame,
    figure_dir: str = "figures",
    top: int = 5,
) -> str:
    j = findings["judgement"]
    tol = j["tolerance"]
    claims = findings["claims"]
    settings = sorted({c["setting"] for c in claims})
    seeds = summary.groupby("label").seed.nunique() if len(summary) else pd.Series(dtype=int)
    out = ["# How much nonlinearity does a network need? Report", ""]
    out += [
        f"Built from {len(summary)} runs in `data/07_model_output/runs/` "
        f"({', '.join(settings) or 'none'}; {seeds.min() if len(seeds) else 0}–"
        f"{seeds.max() if len(seeds) else 0} seeds per configuration). Every number is "
        "computed from those runs by the `reporting` pipeline; `findings.json` holds each "
        "sentence below with its numbers and the test behind it.",
        "",
        "## 1. Executive summary",
        "",
        f"Accuracy claims compare each configuration with the all-ReLU run of the same seed "
        f'and data split (paired), over seeds, with a Student-t 95 % interval; "within '
        f'tolerance" ({pct(tol)} absolute) only when the whole interval is inside it. Speed '
        'claims come from interleaved timing rounds, "faster" or "slower" only when the '
        "interval of the time ratio excludes 1.",
        "",
    ]
    out += [f"- {c['sentence']}" for c in claims] or ["_No runs yet._"]
    failed = findings.get("failed_runs") or []
    if failed:
        out += ["", f"{len(failed)} runs failed and are not results (nor in any figure or table):"]
        out += [f"- `{f['run']}`: {f['error']}" for f in failed]
    out += ["", "## 2. Methods", ""]
    out += [
        "Hidden neurons skip their activation (identity instead of ReLU/GELU): a fixed random "
        "share per layer (`fixed`), a per-layer schedule (`layerwise`), learned per-neuron gates "
        "that are hardened to 0/1 and fine-tuned (`gating`), a fixed random mask at a gated "
        "run's hardened per-layer shares (`matched`), or post-training statistics (`pruning`: "
        "linearise by activation statistics, remove dead neurons, fine-tune, fold). Gated runs "
        "spend the same total epochs as fixed runs (soft phase + fine-tuning); pruned runs "
        "fine-tune on top of their source. Details: `docs/methods.md`; every field and every "
        "test: `docs/metrics.md`.",
        "",
        "## 3. Results",
        "",
    ]
    for name, title in FIGURE_TITLES.items():
        out += [f"### {title}", "", f"![{title}]({figure_dir}/{name}.png)", ""]
    out += _accuracy_section(findings, top)
    out += relu_count_section(summary)  # ReLU count per sample beside accuracy
    out += _latency_section(findings, ranking, top)
    out += _cross_section(cross, findings)
    out += _ablation_section(findings)
    out += _secondary_section(findings)
    out += robustness.report_section(findings)  # accuracy under FGSM and PGD
    out += _interpretation_section(findings, summary, layers)
    out += report_section(findings)  # which neurons stay nonlinear across seeds
    out += attention.section(findings)  # which module kinds gating keeps nonlinear
    out += _checklist_section(findings)
    out += _limitations(findings, summary)
    return "\n".join(out)


def _accuracy_section(findings: Mapping[str, Any], top: int) -> list[str]:
    drops = findings.get("drops") or []
    out = ["### Accuracy against all-ReLU, per configuration", ""]
    out += [
        "Δ accuracy = configuration − all-ReLU of the same seed (paired), with its 95 % "
        "interval over seeds; the verdict against the tolerance; the seeds that would tell, "
        "from the observed spread.",
        "",
    ]
    out.append(
        _records_table(
            drops,
            {
                "setting": lambda r: r["setting"],
                "configuration": lambda r: r["label"],
                "linear share": lambda r: pct(r["linear_ratio"], 0),
                "test acc": lambda r: _acc(r["test_acc"]),
                "Δ test acc [95 % CI]": _drop_cell,
                "seeds": lambda r: r["drop_n"],
                "verdict": lambda r: r["verdict"],
                "seeds to tell": lambda r: r["seeds_needed"] or "–",
                "1 test sample": lambda r: pct(r["resolution"], 2),
            },
        )
    )
    return out


def _latency_section(findings: Mapping[str, Any], ranking: pd.DataFrame, top: int) -> list[str]:
    lat = findings.get("latency") or []
    out = ["### Latency (interleaved rounds)", ""]
    if not lat:
        return out + [
            "_Latency was not measured: `kedro run --pipelines=benchmark` times every run and "
            "its all-ReLU baseline in interleaved rounds. No speed claim is made._",
            "",
        ]
    stale = findings.get("latency_stale_runs") or []
    out += [
        "Time per batch relative to the same-seed all-ReLU model, timed in turns in one "
        "process (geometric mean over rounds and seeds, 95 % interval on the log ratio).",
        "",
    ]
    out.append(
        _records_table(
            lat,
            {
                "setting": lambda r: r["setting"],
                "configuration": lambda r: r["label"],
                "batch": lambda r: r["batch_size"],
                "p50 ms": lambda r: f"{r['p50_ms']:.3f}",
                "all-ReLU ms": lambda r: f"{r['baseline_p50_ms']:.3f}",
                "time ratio [95 % CI]": lambda r: _cell(
                    r["ratio_mean"], r["ratio_low"], r["ratio_high"], _x
                ),
                "verdict": lambda r: r["verdict"],
                "rounds": lambda r: r["ratio_n"],
            },
        )
    )
    if stale:
        out += [
            f"_Not used: {len(stale)} runs were timed against an all-ReLU run that has since "
            f"been retrained ({', '.join(stale)}); benchmark again._",
            "",
        ]
    out += ["### Efficiency ranking (mean test accuracy per ms of interleaved p50 latency)", ""]
    shown = ranking.groupby("setting").head(top)
    out += _truncated(len(shown), len(ranking), "data/08_reporting/efficiency_ranking.csv")
    out.append(
        _records_table(
            shown.to_dict(orient="records"),
            {
                "setting": lambda r: r["setting"],
                "rank": lambda r: r["rank"],
                "configuration": lambda r: r["label"],
                "test acc [95 % CI]": lambda r: _cell(
                    r["test_acc"], r["acc_low"], r["acc_high"], _acc
                ),
                "p50 ms": lambda r: f"{r['p50_ms']:.3f}",
                "time ratio [95 % CI]": lambda r: _cell(
                    r["ratio_mean"], r["ratio_low"], r["ratio_high"], _x
                ),
                "acc per ms": lambda r: _num(r["acc_per_ms"], ".3f"),
            },
        )
    )
    out += [
        'Ranks whose time ratios are "no measurable difference" from all-ReLU differ by '
        "accuracy alone; read them with the accuracy intervals above.",
        "",
    ]
    return out


def _cross_section(cross: pd.DataFrame, findings: Mapping[str, Any]) -> list[str]:
    out = ["## 4. Cross-domain consistency", ""]
    out += [
        "Δ test accuracy against the same-seed all-ReLU run at 25 / 50 / 75 % linear neurons "
        "(fixed, random pattern) with 95 % intervals, and the gated runs' effective linear "
        "share (exact, after hardening; before hardening: 1 − mean α) and Δ accuracy:",
        "",
    ]
    rows = cross.to_dict(orient="records") if len(cross) else []
    out.append(
        _records_table(
            rows,
            {
                "setting": lambda r: r["setting"] + (" (synthetic)" if r["synthetic"] else ""),
                "all-ReLU acc [95 % CI]": lambda r: _cell(
                    r["baseline_acc"], r["baseline_low"], r["baseline_high"], _acc
                ),
                "seeds": lambda r: r["seeds"],
                "1 test sample": lambda r: pct(r["resolution"], 2),
                **{
                    f"Δ acc at {p} %": (
                        lambda r, p=p: _drop_cell(r, f"drop_{p}", f"drop_{p}_low", f"drop_{p}_high")
                    )
                    for p in (25, 50, 75)
                },
                "gated share (soft → hard)": lambda r: (
                    f"{pct(r['gated_soft_ratio'], 0)} → {pct(r['gated_effective_ratio'], 0)}"
                ),
                "gated Δ acc": lambda r: _drop_cell(
                    r, "gated_drop", "gated_drop_low", "gated_drop_high"
                ),
                "epochs gated / fixed": lambda r: (
                    f"{r['gated_epochs'] or '–'} / {r['fixed_epochs']}"
                ),
            },
        )
    )
    comp = (findings.get("secondary") or {}).get("complexity") or []
    out += [
        "Data-set complexity (§7): the largest linear share within tolerance, side by side:",
        "",
    ]
    out.append(
        _records_table(
            comp,
            {
                "setting": lambda r: r["setting"],
                "all-ReLU acc": lambda r: _acc(r["baseline_acc"]),
                "largest linear share within tolerance": lambda r: (
                    pct(r["largest_linear_share_within"], 0)
                    if r["largest_linear_share_within"] is not None
                    else f"none shown ({r['verdict']})"
                ),
                "configuration": lambda r: r["config"] or "–",
                "Δ test acc [95 % CI]": _drop_cell,
                "seeds": lambda r: r["seeds"] or "–",
                "1 test sample": lambda r: pct(r["resolution"], 2),
            },
        )
    )
    return out


def _ablation_section(findings: Mapping[str, Any]) -> list[str]:
    ab = findings.get("ablations") or {}
    out = ["## 5. Ablations (guide Task 6)", ""]
    out += ["**Layer-wise schedules against the uniform (fixed) share at the same mean:**", ""]
    out.append(
        _records_table(
            ab.get("schedules") or [],
            {
                "setting": lambda r: r["setting"],
                "schedule": lambda r: r["label"],
                "linear share": lambda r: pct(r["linear_ratio"], 0),
                "against": lambda r: r.get("against") or "–",
                "accuracy difference [95 % CI]": lambda r: (
                    _cell(r["diff_mean"], r["diff_low"], r["diff_high"])
                    if r.get("against")
                    else r["words"]
                ),
                "verdict": lambda r: r.get("verdict", "–"),
            },
        )
    )
    gating = [c for c in findings["claims"] if c["kind"] == "gating_vs_fixed"]
    out += ["**Gating against a fixed mask at the gated run's hardened per-layer shares:**", ""]
    out += [f"- {c['sentence']}" for c in gating] or [
        "_No matched runs (train_gated.matched_fixed) to compare with._"
    ]
    out += ["", "**Pruning after gating against pruning after all-ReLU training:**", ""]
    out.append(
        _records_table(
            ab.get("pruning_sources") or [],
            {
                "setting": lambda r: r["setting"],
                "pruned": lambda r: r["label"],
                "against": lambda r: r["against"],
                "linear share": lambda r: (
                    f"{pct(r.get('linear_ratio'), 0)} vs {pct(r.get('against_linear_ratio'), 0)}"
                ),
                "accuracy difference [95 % CI]": lambda r: (
                    _cell(r["acc_diff_mean"], r["acc_diff_low"], r["acc_diff_high"])
                    if "acc_diff_mean" in r
                    else r.get("words", "–")
                ),
                "verdict": lambda r: r.get("acc_verdict", "–"),
            },
        )
    )
    return out


def _secondary_section(findings: Mapping[str, Any]) -> list[str]:
    sec = findings.get("secondary") or {}
    out = ["## 6. Secondary questions (guide §7)", ""]
    out += [
        "**Convergence speed**: epochs to reach 99 % of the same-seed all-ReLU run's final "
        "validation accuracy (mean over the seeds that reach it, 95 % interval):",
        "",
    ]
    out.append(
        _records_table(
            sec.get("convergence") or [],
            {
                "setting": lambda r: r["setting"],
                "configuration": lambda r: r["label"],
                "linear share": lambda r: pct(r["linear_ratio"], 0),
                "epochs [95 % CI]": lambda r: _cell(
                    r["epochs_mean"], r["epochs_low"], r["epochs_high"], lambda v: f"{v:.1f}"
                ),
                "seeds reaching": lambda r: r["epochs_n"],
                "never reached": lambda r: r["not_reached"],
            },
        )
    )
    out += [
        "**Generalisation gap** (train − validation accuracy, at the end of training) "
        "against the linear share, and its paired change against all-ReLU:",
        "",
    ]
    out.append(
        _records_table(
            sec.get("generalisation_gap") or [],
            {
                "setting": lambda r: r["setting"],
                "linear share": lambda r: pct(r["ratio"], 0),
                "gap [95 % CI]": lambda r: _cell(r["gap_mean"], r["gap_low"], r["gap_high"]),
                "change vs all-ReLU [95 % CI]": lambda r: (
                    _cell(r["change_mean"], r.get("change_low"), r.get("change_high"))
                    if r.get("change_mean") is not None
                    else "–"
                ),
                "reading": lambda r: r["words"] or "–",
            },
        )
    )
    return out


def _interpretation_section(
    findings: Mapping[str, Any], summary: pd.DataFrame, layers: pd.DataFrame
) -> list[str]:
    out = ["## 7. Interpretation", ""]
    consistent = next(
        (c for c in findings.get("checklist") or [] if c["item"].startswith("Layer-wise")), None
    )
    wrote = False
    for name, v in ((consistent or {}).get("numbers") or {}).items():
        if not isinstance(v, dict):
            continue
        wrote = True
        shares = ", ".join(
            f"layer {i}: {pct(m, 0)} ± {pct(s, 0)}"
            for i, (m, s) in enumerate(zip(v["mean_per_layer"], v["sd_per_layer"], strict=True))
        )
        out.append(
            f"- **{name}**: gating made linear {shares} (mean ± sd over {v['seeds']} seeds)."
        )
    if not wrote:
        out.append("_Per-layer gating shares need gated runs of at least two seeds._")
    if len(layers):
        out += [
            "",
            "Per-layer activation statistics (`kedro run --pipelines=activation_analysis`):",
            "",
        ]
        cols = ["run", "layer_idx", "layer", "pos_frac", "nonlinear_score"]
        cols += ["gating_alpha_mean", "linearized"]
        shown = layers[cols].head(24)
        out += _truncated(len(shown), len(layers), "data/08_reporting/layer_table.csv")
        out.append(
            _table(
                shown,
                {
                    "pos_frac": ".3f",
                    "nonlinear_score": ".3f",
                    "gating_alpha_mean": ".3f",
                    "layer_idx": "d",
                },
            )
        )
    return out


def _checklist_section(findings: Mapping[str, Any]) -> list[str]:
    out = ["## 8. Checklist before claiming findings (guide §19)", ""]
    out.append(
        _records_table(
            findings.get("checklist") or [],
            {
                "item": lambda r: r["item"],
                "verdict": lambda r: f"**{r['verdict']}**",
                "evidence": lambda r: r["detail"],
            },
        )
    )
    pruned = next(
        (c for c in findings.get("checklist") or [] if c["item"].startswith("Pruning")), None
    )
    rows = (pruned or {}).get("numbers") or []
    if isinstance(rows, list) and rows:
        out += ["Pruning, before and after:", ""]
        out.append(
            _records_table(
                rows,
                {
                    "pruned run": lambda r: r["run"],
                    "source test acc": lambda r: _acc(r["source_test_acc"]),
                    "val before": lambda r: _acc(r["val_acc_before_pruning"]),
                    "val pruned": lambda r: _acc(r["val_acc_pruned"]),
                    "test after fine-tuning": lambda r: _acc(r["test_acc"]),
                    "linear share": lambda r: pct(r["linear_ratio"], 0),
                    "fold exact": lambda r: r["folded_exact"],
                },
            )
        )
    return out


def _limitations(findings: Mapping[str, Any], summary: pd.DataFrame) -> list[str]:
    synthetic = sorted(
        {c["setting"] for c in findings["claims"]}
        & set(summary[summary.synthetic].setting if len(summary) else [])
    )
    out = ["## 9. Limitations", ""]
    out += [
        "- Identity neurons cost as much as ReLU neurons until they are folded; only the "
        "`pruning` runs' folded models have fewer operations. MLPs, MLP heads and transformer "
        "FFNs fold; conv channels are linearised, not folded.",
        "- Intervals are over the seeds run (Student-t); with 3 seeds they are wide "
        '(t = 4.30). "Cannot tell" means more seeds, not no effect.',
        "- A test-set accuracy moves in steps of one sample (the resolution beside each "
        "difference); differences below it are not measurable.",
        "- The pruning thresholds are the guide's heuristics; statistics come from a sample "
        "of one split.",
        "- Latency is measured on this machine only (device and threads in each latency row).",
    ]
    if synthetic:
        out.append(
            f"- {', '.join(synthetic)}: generated data, a stand-in to run offline, not a "
            "benchmark result."
        )
    out += ["", "## 10. Future work", ""]
    out += [
        "- Fold linear conv channels (the composed kernel grows: worth it only for 1x1 convs).",
        "- Energy per sample on GPUs (`kedro run --pipelines=benchmark` records it where NVML "
        "is available).",
        "- Robustness beyond L∞ FGSM and PGD: adaptive attacks (AutoAttack), other norms.",
        "- Adaptive ratio schedules during training.",
        "",
    ]
    return out
