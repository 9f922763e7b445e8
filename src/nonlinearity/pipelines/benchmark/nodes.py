"""Nodes of benchmark."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch

from ...experiment import RunSpec, run_name
from ...measure import interleaved_latency
from ...measure.benchmark import BenchmarkConfig, benchmark_model
from ..runs import load_partition

log = logging.getLogger(__name__)


def benchmark_run(
    models: dict[str, Callable],
    artifacts: dict[str, Callable],
    dataset: str,
    model_params: dict[str, Any],
    bench_params: dict[str, Any],
    *,
    spec: RunSpec,
) -> tuple[dict, dict]:
    """One run's model -> (a row of the table, its meta.json with the new figures merged in)."""
    name = run_name(dataset, model_params.get("name", "mlp"), spec)
    model = load_partition(models, name, "trained model")
    meta = load_partition(artifacts, f"{name}/meta", "meta.json")
    cfg = BenchmarkConfig.from_params(bench_params)
    data = meta["config"]["data"]
    res = benchmark_model(model, tuple(data["input_shape"]), data["num_classes"], cfg)
    main = res["latency"][str(max(cfg.batch_sizes))]  # the contract's latency fields
    meta["latency"] = {**main, "by_batch_size": res["latency"]}
    meta["approx_linear_flops"] = res["flops_linear"]
    meta["nonlinear_units"] = res["nonlinear_units"]
    meta["benchmark"] = {k: v for k, v in res.items() if k != "latency"}
    row = {
        "run": name,
        "baseline": run_name(dataset, model_params.get("name", "mlp"), RunSpec("fixed", spec.seed)),
        "approach": meta["config"]["approach"],
        "input_shape": data["input_shape"],
        "linear_ratio": meta["metrics"]["linear_ratio"],
        "test_acc": meta["metrics"]["test_acc"],
        **{k: v for k, v in res.items() if k != "latency"},
    }
    for bs, lat in res["latency"].items():
        row[f"p50_ms_b{bs}"] = 1e3 * lat["p50_latency_s"]
        row[f"p90_ms_b{bs}"] = 1e3 * lat["p90_latency_s"]
        row[f"samples_per_s_b{bs}"] = lat["samples_per_second"]
        row[f"energy_j_per_sample_b{bs}"] = lat.get("energy_j_per_sample")
    log.info(
        "%s: p50 %s ms, %d FLOPs, %d nonlinear units",
        name,
        {b: round(1e3 * v["p50_latency_s"], 3) for b, v in res["latency"].items()},
        res["flops_total"],
        res["nonlinear_units"],
    )
    return row, {f"{name}/meta": meta}


def compare_latency(
    models: dict[str, Callable], bench_params: dict[str, Any], *rows: dict
) -> pd.DataFrame:
    """The benchmarked runs timed in turns in one process, each against its ratio-0 baseline."""
    cfg = BenchmarkConfig.from_params(bench_params)
    device = cfg.resolve_device()
    loaded = {r["run"]: load_partition(models, r["run"], "trained model").to(device) for r in rows}
    shape = next(iter(rows))["input_shape"]
    out = []
    for bs in cfg.batch_sizes:
        p50 = interleaved_latency(
            loaded, torch.randn((bs, *shape), device=device), cfg.compare_rounds
        )
        for r in rows:
            base = r["baseline"] if r["baseline"] in p50 else None
            out.append(
                {
                    "run": r["run"],
                    "baseline": base,
                    "batch_size": bs,
                    "p50_s": p50[r["run"]],
                    "baseline_p50_s": p50[base] if base else None,
                    "latency_ratio": p50[r["run"]] / p50[base] if base else None,
                }
            )
    return pd.DataFrame(out)


def benchmark_table(comparison: pd.DataFrame, *rows: dict) -> pd.DataFrame:
    """One row per run: the per-run figures and the interleaved latency ratios."""
    table = pd.DataFrame(list(rows)).drop(columns=["input_shape"])
    ratios = comparison.pivot(index="run", columns="batch_size", values="latency_ratio")
    ratios.columns = [f"latency_ratio_b{bs}" for bs in ratios.columns]
    return table.merge(ratios, left_on="run", right_index=True, how="left")
