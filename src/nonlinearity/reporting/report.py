"""report.md in the structure of guide §13, every sentence filled from the findings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

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
}


def _seeds(n: int) -> str:
    return "one seed" if n == 1 else f"mean of {n} seeds"


def _speed_words(speedup: float) -> str:
    """What an unfolded 0 %-vs-50 % latency ratio says (each run timed on its own)."""
    if speedup >= 1.1:
        return f"the mixed model is {speedup:.2f}× as fast"
    if speedup > 1 / 1.1:
        return "no gain beyond timing noise, as unfolded identity neurons cost what ReLUs do"
    return (
        "the mixed model is slower here, as an unfolded mixed activation costs a little more "
        "than a ReLU and runs timed one by one are noisy (`kedro run --pipeline=benchmark` "
        "times them interleaved)"
    )


def _pct(x: float | None, digits: int = 1) -> str:
    return (
        "n/a"
        if x is None or (isinstance(x, float) and math.isnan(x))
        else f"{100 * x:.{digits}f} %"
    )


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


def _summary_sentence(setting: str, f: Mapping[str, Any], tolerance: float) -> str:
    tag = " (synthetic data)" if f.get("synthetic") else ""
    if "baseline_acc" not in f:
        return f"- **{setting}**{tag}: no all-ReLU baseline run (fixed 0 %), so no threshold."
    s = f.get("smallest_nonlinear_share")
    if not s:
        return (
            f"- **{setting}**{tag}: baseline test accuracy {_pct(f['baseline_acc'], 2)}; no "
            f"configuration stays within {_pct(tolerance)} of it."
        )
    spread = (
        f"; seeds {_pct(s['acc_min'], 2)}–{_pct(s['acc_max'], 2)}"
        if s["seeds"] > 1
        else "; one seed, so no spread"
    )
    side = "below" if s["drop"] >= 0 else "above"
    return (
        f"- **{setting}**{tag}: {_pct(s['nonlinear_share'])} of the activation neurons "
        f"nonlinear ({s['config']}) keeps test accuracy at {_pct(s['test_acc'], 2)}, "
        f"{_pct(abs(s['drop']), 2)} {side} the all-ReLU baseline {_pct(f['baseline_acc'], 2)} "
        f"(tolerance {_pct(tolerance)}{spread})"
        + (": a linear model is enough for this data set." if s["nonlinear_share"] == 0 else ".")
    )


def build_report(
    findings: Mapping[str, Any],
    summary: pd.DataFrame,
    cross: pd.DataFrame,
    ranking: pd.DataFrame,
    layers: pd.DataFrame,
    figure_dir: str = "figures",
) -> str:
    tol = findings["tolerance"]
    settings = findings["settings"]
    out = ["# How much nonlinearity does a network need? Report", ""]
    out += [
        f"Built from {len(summary)} runs in `data/07_model_output/runs/` "
        f"({', '.join(sorted(settings)) or 'none'}). Every number below is computed from "
        "those runs by the `reporting` pipeline; rerun it after new runs.",
        "",
        "## 1. Executive summary",
        "",
        f"The smallest share of nonlinear neurons whose mean test accuracy stays within "
        f"{_pct(tol)} (absolute) of the all-ReLU baseline, per data set and model:",
        "",
    ]
    out += [_summary_sentence(s, f, tol) for s, f in settings.items()] or ["_No runs yet._"]
    failed = findings.get("failed_runs") or []
    if failed:
        out += ["", f"{len(failed)} runs failed and are not results (nor in any figure or table):"]
        out += [f"- `{f['run']}`: {f['error']}" for f in failed]
    out += ["", "## 2. Methods", ""]
    out += [
        "Hidden neurons skip their activation (identity instead of ReLU/GELU): a fixed random "
        "share per layer (`fixed`), a per-layer schedule (`layerwise`), learned per-neuron gates "
        "that are hardened to 0/1 and fine-tuned (`gating`), or post-training statistics "
        "(`pruning`: linearise by activation statistics, remove dead neurons, fine-tune, fold). "
        "Details: `docs/methods.md`; every field: `docs/metrics.md`.",
        "",
        "## 3. Results",
        "",
    ]
    for name, title in FIGURE_TITLES.items():
        out += [f"### {title}", "", f"![{title}]({figure_dir}/{name}.png)", ""]
    out += ["### Latency", ""]
    any_latency = False
    for s, f in settings.items():
        lat = f.get("latency_at_50")
        if not lat:
            continue
        any_latency = True
        line = (
            f"- **{s}**: at 50 % linear the mixed model takes {lat['mixed_ms']:.3f} ms per batch "
            f"of {lat['batch_size']} against {lat['baseline_ms']:.3f} ms all-ReLU "
            f"({lat['speedup']:.2f}×): {_speed_words(lat['speedup'])}"
        )
        if "folded" in lat:
            fo = lat["folded"]
            line += (
                f"; folded, the pruned run {fo['run']} ({_pct(fo['linear_ratio'], 0)} linear) "
                f"takes {fo['folded_ms']:.3f} ms against {fo['unfolded_ms']:.3f} ms unfolded "
                f"({fo['speedup']:.2f}×)."
            )
        else:
            line += "; fold them (`kedro run --pipeline=pruning`) to make them cheaper."
        out.append(line)
    if not any_latency:
        out.append("_No fixed 0 % and 50 % runs with latency to compare._")
    out += ["", "### Efficiency ranking (test accuracy per ms of p50 latency)", ""]
    top = ranking.groupby("setting").head(5)[
        ["setting", "rank", "run", "test_acc", "latency_p50_ms", "acc_per_ms"]
    ]
    out.append(_table(top, {"test_acc": ".4f", "latency_p50_ms": ".3f", "acc_per_ms": ".3f"}))
    out += ["## 4. Cross-domain consistency", ""]
    out += [
        "Test accuracy drop against the all-ReLU baseline at 25 / 50 / 75 % linear neurons "
        "(fixed, random pattern; means over seeds) and the gated runs' effective linear share "
        "(exact, after hardening; before hardening: 1 − mean α):",
        "",
    ]
    cols = [
        "dataset",
        "model",
        "synthetic",
        "baseline_acc",
        "seeds",
        "drop_25",
        "drop_50",
        "drop_75",
        "gated_soft_ratio",
        "gated_effective_ratio",
        "gated_drop",
    ]
    fmt = {c: ".4f" for c in cols[3:]} | {"seeds": "d"}
    out.append(_table(cross[cols] if len(cross) else cross, fmt))
    out += ["## 5. Interpretation", ""]
    wrote = False
    for s, f in settings.items():
        gap = f.get("gen_gap_trend")
        if gap:
            wrote = True
            direction = "widens" if gap["slope_per_unit_ratio"] > 0 else "narrows"
            out.append(
                f"- **{s}**: the generalisation gap (train − val accuracy) {direction} from "
                f"{_pct(gap['at_0'], 2)} at 0 % to {_pct(gap['at_max'], 2)} at "
                f"{_pct(gap['max_ratio'], 0)} linear (slope {gap['slope_per_unit_ratio']:+.4f} "
                "per unit of linear share)."
            )
        for run, g in (f.get("gated_layers") or {}).items():
            wrote = True
            shares = ", ".join(
                f"{n} {_pct(v, 0)}"
                for n, v in zip(g["layers"], g["linear_share_per_layer"], strict=True)
            )
            trend = (
                "higher layers more linear"
                if g["slope_per_layer"] > 0.02
                else "lower layers more linear"
                if g["slope_per_layer"] < -0.02
                else "no clear trend with depth"
            )
            out.append(f"- **{run}**: gating made linear {shares} ({trend}).")
        for c in f.get("pruning_vs_fixed") or []:
            wrote = True
            diff = c["test_acc"] - c["fixed_test_acc"]
            out.append(
                f"- **{c['pruned_run']}** ({_pct(c['linear_ratio'], 0)} linear after pruning "
                f"{c['source_run']}): test accuracy {_pct(c['test_acc'], 2)}, "
                f"{'+' if diff >= 0 else '−'}{_pct(abs(diff), 2)} against fixed "
                f"{_pct(c['fixed_ratio'], 0)} linear from the start "
                f"({_pct(c['fixed_test_acc'], 2)}, {_seeds(c['fixed_seeds'])})."
            )
    if not wrote:
        out.append("_Not enough runs to say more._")
    if len(layers):
        out += [
            "",
            "Per-layer activation statistics (`kedro run --pipeline=activation_analysis`):",
            "",
        ]
        out.append(
            _table(
                layers[
                    [
                        "run",
                        "layer_idx",
                        "layer",
                        "pos_frac",
                        "nonlinear_score",
                        "gating_alpha_mean",
                        "linearized",
                    ]
                ],
                {
                    "pos_frac": ".3f",
                    "nonlinear_score": ".3f",
                    "gating_alpha_mean": ".3f",
                    "layer_idx": "d",
                },
            )
        )
    synthetic = [s for s, f in settings.items() if f.get("synthetic")]
    out += ["", "## 6. Limitations", ""]
    out += [
        "- Identity neurons cost as much as ReLU neurons until they are folded; only the "
        "`pruning` runs' folded models (`folded.safetensors` in their run folders) have fewer "
        "operations. "
        "MLPs, MLP heads and transformer FFNs fold; conv channels are linearised, not folded.",
        "- The pruning thresholds are the guide's heuristics; statistics come from a sample "
        "of one split.",
        "- Confidence intervals need several seeds; settings with one seed show none.",
        "- Latency is measured right after each run's training, one run at a time; "
        "`kedro run --pipeline=benchmark` times all runs in turns, which is fairer on a busy "
        "machine.",
    ]
    if synthetic:
        out.append(
            f"- {', '.join(synthetic)}: generated data, a stand-in to run offline, not a "
            "benchmark result."
        )
    out += ["", "## 7. Future work", ""]
    out += [
        "- Fold linear conv channels (the composed kernel grows: worth it only for 1x1 convs).",
        "- Energy per sample on GPUs (`kedro run --pipeline=benchmark` records it where NVML "
        "is available) and robustness evaluation.",
        "- Adaptive ratio schedules during training.",
        "",
    ]
    return "\n".join(out)
