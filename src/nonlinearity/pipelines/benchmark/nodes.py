"""Nodes of benchmark."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Hashable, Mapping
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import torch

from ...measure import Rounds
from ...measure.benchmark import BenchmarkConfig, benchmark_model, rounds_latency, time_in_rounds
from ...reporting import stats
from ...reporting.collect import shared_settings
from ...run.fingerprint import fingerprint
from ...run.record import is_result
from ...run.select import select_runs
from ...run.store import RunStore
from ...run.train import load_model

log = logging.getLogger(__name__)

NO_BASELINE = "no baseline"
COMPARISON_COLUMNS = [
    "run",
    "baseline",
    "batch_size",
    "folded",
    "p50_s",
    "baseline_p50_s",
    "ratio",
    "ratio_low",
    "ratio_high",
    "verdict",
    "rounds",
]


def _all_relu_runs(store: RunStore) -> dict[str, dict]:
    """Every complete fixed run at ratio 0 (all ReLU, any pattern), selected or not."""
    out = {}
    for name in store.names():
        meta = store.meta(name)
        cfg = (meta or {}).get("config") or {}
        if is_result(meta or {}) and cfg.get("approach") == "fixed" and not cfg.get("linear_ratio"):
            out[name] = meta
    return out


def _baseline(name: str, meta: dict, all_relu: Mapping[str, dict]) -> str | None:
    """The all-ReLU run of the same seed and shared settings (the run itself when it is
    one; else the first by name), if stored."""
    shared, seed = fingerprint(shared_settings(meta)), meta["config"].get("seed")
    found = [
        n
        for n, m in sorted(all_relu.items())
        if m["config"].get("seed") == seed and fingerprint(shared_settings(m)) == shared
    ]
    return name if name in found else (found[0] if found else None)


def _folds(meta: dict) -> bool:
    """A pruned run whose folding succeeded has a folded model to time."""
    return meta["config"].get("approach") == "pruning" and bool(
        (meta.get("folding") or {}).get("supported")
    )


def _time_all(
    models: dict[tuple[str, bool], torch.nn.Module], metas: Mapping[str, dict], cfg
) -> dict[int, Rounds]:
    """All models timed in interleaved rounds, those of one input shape together."""
    groups: dict[tuple, dict[Hashable, torch.nn.Module]] = {}
    for key, model in models.items():
        data = metas[key[0]]["config"]["data"]
        groups.setdefault((tuple(data["input_shape"]), data["kind"]), {})[key] = model
    out: dict[int, Rounds] = {}
    for (shape, _), group in groups.items():
        for bs, r in time_in_rounds(group, shape, cfg).items():
            seconds, calls = (out[bs].seconds, out[bs].calls_per_block) if bs in out else ({}, {})
            out[bs] = Rounds({**seconds, **r.seconds}, {**calls, **r.calls_per_block})
    return out


def interleaved_record(
    name: str,
    baseline: str | None,
    metas: Mapping[str, dict],
    r: Rounds,
    device: str,
    threads: int,
) -> dict[str, Any]:
    """`benchmark.interleaved[<batch size>]` of one run: its raw rounds and its baseline's,
    both timed in the nonlinear-first layout (`measure.benchmark.time_in_rounds`)."""
    rec = {
        "rounds_s": r.seconds[(name, False)],
        "baseline": baseline,
        "baseline_fingerprint": metas[baseline].get("fingerprint") if baseline else None,
        "baseline_rounds_s": r.seconds[(baseline, False)] if baseline else None,
    }
    if (name, True) in r.seconds:
        rec["folded_rounds_s"] = r.seconds[(name, True)]
    return {**rec, "device": device, "threads": threads, "layout": "nonlinear_first"}


def comparison_rows(name: str, batch_size: int, rec: Mapping[str, Any]) -> list[dict]:
    """Rows of `latency_comparison` for one run and batch size (unfolded, then folded).

    Over paired rounds r_i = t_i / b_i: ratio = exp(mean log r), 95 % interval
    exp(mean log r ± t_{0.975, n−1} · sd(log r) / √n) (`reporting.stats.ratio_interval`);
    "faster" only when the interval lies below 1, "slower" above, else "no measurable
    difference"; "no baseline" when the run has no all-ReLU run to compare with.
    """
    rows = []
    for folded, key in ((False, "rounds_s"), (True, "folded_rounds_s")):
        if key not in rec:
            continue
        t, b = rec[key], rec["baseline_rounds_s"]
        ratio = stats.ratio_interval(t, b, level=0.95) if b else None
        rows.append(
            {
                "run": name,
                "baseline": rec["baseline"],
                "batch_size": batch_size,
                "folded": folded,
                "p50_s": statistics.median(t),
                "baseline_p50_s": statistics.median(b) if b else None,
                "ratio": ratio.ratio if ratio else None,
                "ratio_low": ratio.low if ratio else None,
                "ratio_high": ratio.high if ratio else None,
                "verdict": stats.speed_verdict(ratio) if ratio else NO_BASELINE,
                "rounds": len(t),
            }
        )
    return rows


def benchmark_runs(
    store: RunStore, bench_params: dict[str, Any], select: str, *after: Any
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Every selected stored run, measured one way -> (meta updates, latency comparison,
    table); `after` only orders this node after the nodes that write runs.

    Latency only from interleaved rounds: every selected run, the folded model of each
    pruned one and their all-ReLU baselines (selected or not), those of one input shape
    timed together per batch size. All models are read before anything is measured; the
    meta updates are merged into each meta.json atomically, after all were measured.
    """
    cfg = BenchmarkConfig.from_params(bench_params)
    names = select_runs(store, select)
    metas = {n: store.meta(n) for n in names}
    all_relu = _all_relu_runs(store)
    metas_all = {**all_relu, **metas}
    baselines = {n: _baseline(n, metas[n], all_relu) for n in names}
    timed = dict.fromkeys([*names, *filter(None, baselines.values())])
    models = {(n, False): load_model(store, n) for n in timed}  # all readable, or no writes
    models |= {(n, True): load_model(store, n, folded=True) for n in names if _folds(metas[n])}
    rounds = _time_all(models, metas_all, cfg)
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    device, threads = str(cfg.resolve_device()), cfg.timing_threads
    updates, rows, comparison = {}, [], []
    for name in names:
        recs = {
            bs: interleaved_record(name, baselines[name], metas_all, r, device, threads)
            for bs, r in rounds.items()
        }
        lat = {
            bs: rounds_latency(r, (name, False), bs, device, threads) for bs, r in rounds.items()
        }
        updates[name], row = _measure_run(name, metas[name], models[(name, False)], lat, cfg)
        updates[name]["benchmark"] |= {"interleaved": _by_str(recs), "measured_at": when}
        rows.append({**row, "baseline": baselines[name]})  # in its place, after dataset
        comparison += [c for bs, rec in recs.items() for c in comparison_rows(name, bs, rec)]
    comparison = pd.DataFrame(comparison, columns=COMPARISON_COLUMNS)
    return updates, comparison, _with_ratios(pd.DataFrame(rows), comparison)


def _by_str(by_batch: Mapping[int, Any]) -> dict[str, Any]:
    return {str(bs): v for bs, v in by_batch.items()}


def _measure_run(
    name: str, meta: dict, model: torch.nn.Module, lat: Mapping[int, dict], cfg
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta update, table row) of one run: its interleaved latency records and the rest
    of what it costs. `latency` is the largest batch size's record (the contract's
    fields); `benchmark` holds the rest and the settings it was measured with."""
    data = meta["config"]["data"]
    per_call = {bs: v["p50_latency_s"] for bs, v in lat.items()}
    res = benchmark_model(model, tuple(data["input_shape"]), data["num_classes"], cfg, per_call)
    update = {
        "latency": {**lat[max(lat)], "rounds": cfg.compare_rounds, "by_batch_size": _by_str(lat)},
        "approx_linear_flops": res["flops_linear"],
        "nonlinear_units": res["nonlinear_units"],
        "benchmark": {**res, "config": asdict(cfg)},
    }
    log.info(
        "%s: p50 %s ms (%d interleaved rounds), %d FLOPs, %d nonlinear units",
        name,
        {bs: round(1e3 * v, 3) for bs, v in per_call.items()},
        cfg.compare_rounds,
        res["flops_total"],
        res["nonlinear_units"],
    )
    return update, _table_row(name, meta, res, lat)


def _table_row(name: str, meta: dict, res: dict, lat: Mapping[int, dict]) -> dict[str, Any]:
    row = {
        "run": name,
        "dataset": meta["config"]["dataset"],
        "baseline": None,
        "approach": meta["config"]["approach"],
        "linear_ratio": meta["metrics"]["linear_ratio"],
        "test_acc": meta["metrics"]["test_acc"],
        **{k: v for k, v in res.items() if k != "energy"},
    }
    for bs, v in lat.items():
        row[f"p50_ms_b{bs}"] = 1e3 * v["p50_latency_s"]
        row[f"p90_ms_b{bs}"] = 1e3 * v["p90_latency_s"]
        row[f"samples_per_s_b{bs}"] = v["samples_per_second"]
        row[f"energy_j_per_sample_b{bs}"] = (
            res["energy"].get(str(bs), {}).get("energy_j_per_sample")
        )
    return row


def _with_ratios(table: pd.DataFrame, comparison: pd.DataFrame) -> pd.DataFrame:
    """The table with each run's time ratio to its baseline per batch size (unfolded:
    `latency_ratio_b<bs>`, folded: `folded_latency_ratio_b<bs>`)."""
    for folded, prefix in ((False, "latency_ratio_b"), (True, "folded_latency_ratio_b")):
        part = comparison[comparison.folded == folded]
        ratios = part.pivot(index="run", columns="batch_size", values="ratio")
        ratios.columns = [f"{prefix}{bs}" for bs in ratios.columns]
        table = table.merge(ratios, left_on="run", right_index=True, how="left")
    return table
