"""Every run's files -> one record each, and the summary table (one row per run)."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Collection, Mapping
from typing import Any

import pandas as pd

from ..run.fingerprint import dotted_get, fingerprint, settings_diff
from ..run.history import linear_share
from ..run.name import parse_name
from ..run.record import is_result
from .neurons import attach_neurons

log = logging.getLogger(__name__)

FILES = ("history", "meta", "activation_stats", "robustness")


def collect_runs(
    partitions: Mapping[str, Callable[[], Any]],
    published: Collection[str] | None = None,
    neurons: Callable[[str], pd.DataFrame | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """`{"<run>/<file>": load}` -> `{run: {"history", "meta", "activation_stats"?}}`;
    with `neurons` (run -> its activation_neurons.csv, `neurons.store_reader`) each
    analysed gated run also gets its per-neuron statistics and masks, `neurons`.

    `published`: the run store's runs (`RunStore.names`); a folder outside it is a run
    still being written (on storage published by a marker) and is left out. A run whose
    history or meta is missing or is not valid JSON is skipped with a warning naming the
    file; a broken activation_stats.json only loses that part.
    """
    grouped: dict[str, dict[str, Callable]] = {}
    for key, load in partitions.items():
        run, _, file = key.rpartition("/")
        if published is not None and run not in published:
            continue
        if run and "/" not in run and file in FILES:
            grouped.setdefault(run, {})[file] = load
    runs: dict[str, dict[str, Any]] = {}
    for run in sorted(grouped):
        files, record = grouped[run], {}
        for file in FILES:
            if file not in files:
                continue
            try:
                record[file] = files[file]()
            except Exception as exc:  # JSON decode errors, unreadable files
                log.warning(
                    "skipping %s/%s.json: not valid JSON (%s)", run, file, str(exc).split("\n")[0]
                )
        missing = [f for f in ("history", "meta") if f not in record]
        if missing:
            log.warning(
                "skipping run %s: %s/%s.json is missing or unreadable", run, run, missing[0]
            )
            continue
        if not isinstance(record["history"], list) or not isinstance(record["meta"], dict):
            log.warning("skipping run %s: history.json or meta.json has the wrong shape", run)
            continue
        runs[run] = record
    if neurons is not None:
        attach_neurons(runs, neurons)
    return runs


def _last(history: list[dict], key: str) -> Any:
    """The latest record's value of `key`, skipping records without one."""
    for r in reversed(history):
        if r.get(key) is not None:
            return r[key]
    return None


def _label(cfg: Mapping[str, Any]) -> str:
    """What a run varies, without seed: `fixed 50%`, `layerwise low_to_high`, `gated base`."""
    a = cfg.get("approach")
    if a == "fixed":
        pattern = cfg.get("pattern") or "random"
        extra = "" if pattern == "random" else f" {pattern}"
        return f"fixed{extra} {round(100 * (cfg.get('linear_ratio') or 0))}%"
    if a == "layerwise":
        return f"layerwise {cfg.get('schedule_name')}"
    if a == "gating":
        return f"gated {cfg.get('variant')}"
    if a in ("pruning", "matched"):
        word = "pruned" if a == "pruning" else "matched"
        try:  # the source's key without its seed: `pruned fixed_0`, `matched gated-base`
            return f"{word} {parse_name(str(cfg.get('source_run'))).key.rsplit('_s', 1)[0]}"
        except ValueError:
            return f"{word} {cfg.get('source_run')}"
    return str(a)


def summary_row(run: str, record: Mapping[str, Any]) -> dict[str, Any]:
    meta, history = record["meta"], record["history"]
    cfg = meta.get("config", {})
    metrics = meta.get("metrics", {})
    epochs = [r for r in history if isinstance(r.get("epoch"), int)]
    soft = [r for r in history if r.get("phase") == "train" and r.get("gating")]
    approach = cfg.get("approach")
    train_acc = _last(history, "train_acc")
    val_acc = metrics.get("val_acc")
    return {
        "run": run,
        "dataset": cfg.get("dataset"),
        "model": (cfg.get("model") or {}).get("name", "mlp"),
        "setting": f"{cfg.get('dataset')} · {(cfg.get('model') or {}).get('name', 'mlp')}",
        "approach": approach,
        "label": _label(cfg),
        "pattern": cfg.get("pattern"),
        "schedule": cfg.get("schedule_name"),
        "variant": cfg.get("variant"),
        "source_run": cfg.get("source_run"),
        "seed": cfg.get("seed"),
        "synthetic": bool((cfg.get("data") or {}).get("synthetic", False)),
        # fixed: the configured ratio; others: the final model's exact share
        "nominal_ratio": cfg.get("linear_ratio") if approach == "fixed" else None,
        "linear_ratio": metrics.get("linear_ratio"),
        # gated: 1 - mean alpha at the end of the soft phase (before hardening)
        "soft_linear_ratio": linear_share(soft[-1]["gating"])
        if approach == "gating" and soft
        else None,
        "val_acc": val_acc,
        "test_acc": metrics.get("test_acc"),
        "test_top5": metrics.get("test_top5"),
        "val_top5": _last(history, "val_top5"),
        "train_acc": train_acc,
        "train_loss": _last(history, "train_loss"),
        "val_loss": metrics.get("val_loss"),
        "test_loss": metrics.get("test_loss"),
        "gen_gap": train_acc - val_acc if train_acc is not None and val_acc is not None else None,
        "epochs": len(epochs),
        "train_time_s": metrics.get("train_time_s"),
        # latency only from the benchmark's interleaved rounds (`benchmark.interleaved`);
        # a run timed on its own right after training is not a measurement to compare
        **_interleaved_latency(meta),
        "params": (meta.get("param_counts") or {}).get("total_params"),
        "linear_flops": meta.get("approx_linear_flops"),
        "nonlinear_units": meta.get("nonlinear_units"),
        "activation_units": meta.get("activation_units"),
        # ReLUs evaluated per sample, a conv channel at every position (relu_counts.py)
        "relu_count": meta.get("nonlinear_evals_per_sample"),
        "memory_mb": meta.get("memory_mb"),
        "folded_flops": ((meta.get("folding") or {}).get("efficiency") or {}).get(
            "approx_linear_flops"
        ),
        "n_test": ((cfg.get("data") or {}).get("sizes") or {}).get("test"),
        "fingerprint": meta.get("fingerprint"),
    }


def _interleaved_latency(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Median ms per batch at the largest batch size the benchmark timed in rounds
    (unfolded and, for pruned runs, folded); None when the run was not benchmarked."""
    rounds = ((meta.get("benchmark") or {}).get("interleaved")) or {}
    if not rounds:
        return {"latency_p50_ms": None, "latency_batch_size": None, "folded_latency_p50_ms": None}
    bs = max(rounds, key=int)
    m = rounds[bs]
    folded = m.get("folded_rounds_s")
    return {
        "latency_p50_ms": 1e3 * statistics.median(m["rounds_s"]),
        "latency_batch_size": int(bs),
        "folded_latency_p50_ms": 1e3 * statistics.median(folded) if folded else None,
    }


def shared_settings(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What the runs of one setting must share to be compared: data, model, training and
    the model input they trained on.

    Pruned runs carry their source's settings. Records without `settings` (older
    runs) fall back to their config's data, model and training.
    """
    s = meta.get("settings")
    if not s:
        cfg = meta.get("config", {})
        data = {k: v for k, v in (cfg.get("data") or {}).items() if k != "sizes"}
        s = {
            "dataset": cfg.get("dataset"),
            "data": data,
            "model": cfg.get("model"),
            "training": cfg.get("training"),
        }
    shared = {k: s.get(k) for k in ("dataset", "data", "model", "training")}
    return {**shared, "model_input": (meta.get("provenance") or {}).get("model_input")}


def label_settings(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a run was made with but its seed: what seeds of one label must share.

    A matched run's per-layer ratios come from its own seed's gated run, so they are
    per seed too.
    """
    s = dict(meta.get("settings") or {})
    run = s.get("run") or {}
    per_seed = ("seed", "schedule") if run.get("approach") == "matched" else ("seed",)
    return {
        **shared_settings(meta),
        "run": {k: v for k, v in run.items() if k not in per_seed},
        "gating": s.get("gating"),
        "pruning": (meta.get("config") or {}).get("pruning"),
    }


def _apart(rows: list[dict], column: str, settings, what: str, within: str = "") -> None:
    """Rows of one `column` value whose `settings(meta)` differ get that value suffixed by
    what differs (`digits · mlp [training.epochs=8]`, `gated base [gating.l1=2.0]`);
    `within`: a column whose values are compared apart (labels within a setting)."""
    by_value: dict[tuple, dict[str, list[dict]]] = {}
    for row in rows:
        fp = fingerprint(settings(row["_meta"]))
        key = (row[within] if within else "", row[column])
        by_value.setdefault(key, {}).setdefault(fp, []).append(row)
    for (_, value), groups in by_value.items():
        if len(groups) < 2:
            continue
        reps = {fp: settings(g[0]["_meta"]) for fp, g in groups.items()}
        keys = sorted(
            {k for a in reps.values() for b in reps.values() for k in settings_diff(a, b)}
        )
        log.warning(
            "%s: %s of %d different settings (%s differ); reported apart, never averaged",
            value,
            what,
            len(groups),
            ", ".join(keys),
        )
        for fp, group in groups.items():
            label = ", ".join(f"{k}={_short(dotted_get(reps[fp], k))}" for k in keys)
            for row in group:
                row[column] = f"{value} [{label}]"


def _short(value: Any) -> Any:
    """Fingerprints shown by their first 8 characters."""
    return value[:8] if isinstance(value, str) and len(value) == 64 else value


def failed_runs(runs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Runs recorded as failed (not results): name and why."""
    return [
        {"run": run, "error": rec["meta"].get("error", "failed")}
        for run, rec in sorted(runs.items())
        if not is_result(rec["meta"])
    ]


def summary_table(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per completed run; empty (with the columns) when there are none.

    Failed runs are left out (see `failed_runs`); runs of one data set and model whose
    shared settings differ get separate settings.
    """
    results = {run: rec for run, rec in runs.items() if is_result(rec["meta"])}
    rows = [summary_row(run, rec) for run, rec in results.items()]
    if not rows:
        return pd.DataFrame(columns=list(summary_row("", {"meta": {}, "history": []})))
    for row in rows:
        row["_meta"] = results[row["run"]]["meta"]
    _apart(rows, "setting", shared_settings, "runs")
    _apart(rows, "label", label_settings, "seeds", within="setting")  # a label: one setting
    for row in rows:
        del row["_meta"]
    return pd.DataFrame(rows).sort_values(["setting", "approach", "linear_ratio", "run"])


def layer_rows(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The per-layer table of every analysed run: run | layer_idx | pos_frac | ..."""
    rows = []
    for run, rec in runs.items():
        stats = rec.get("activation_stats") or {}
        for layer, s in (stats.get("layers") or {}).items():
            rows.append(
                {
                    "run": run,
                    "layer_idx": s.get("layer_idx"),
                    "layer": layer,
                    "pos_frac": s.get("pos_frac"),
                    "nonlinear_score": s.get("nonlinear_score"),
                    "gating_alpha_mean": s.get("gating_alpha_mean"),
                    "linearized": s.get("linearized"),
                    "num_features": s.get("num_features"),
                    "dead_candidates": s.get("dead_candidates"),
                }
            )
    columns = ["run", "layer_idx", "layer", "pos_frac", "nonlinear_score", "gating_alpha_mean"]
    columns += ["linearized", "num_features", "dead_candidates"]
    return pd.DataFrame(rows, columns=columns)
