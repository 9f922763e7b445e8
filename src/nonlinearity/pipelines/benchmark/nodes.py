"""Nodes of benchmark."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import torch

from ...measure import interleaved_latency
from ...measure.benchmark import BenchmarkConfig, benchmark_model
from ...reporting.collect import shared_settings
from ...run.fingerprint import fingerprint
from ...run.select import select_runs
from ...run.store import RunStore
from ...run.train import load_model

log = logging.getLogger(__name__)


def _baseline(meta: dict, metas: dict[str, dict]) -> str | None:
    """The all-ReLU run (fixed, ratio 0) of the same seed and shared settings, if stored."""
    cfg, shared = meta["config"], fingerprint(shared_settings(meta))
    for name, m in metas.items():
        c = m["config"]
        if (
            c.get("approach") == "fixed"
            and not c.get("linear_ratio")  # all ReLU, whatever its pattern
            and c.get("seed") == cfg.get("seed")
            and fingerprint(shared_settings(m)) == shared
        ):
            return name
    return None


def benchmark_runs(
    store: RunStore, bench_params: dict[str, Any], select: str
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Every selected stored run, measured one way -> (meta updates, comparison, table).

    All selected runs are read before anything is measured or written; the meta
    updates are merged into each meta.json atomically, after every run was measured.
    """
    cfg = BenchmarkConfig.from_params(bench_params)
    names = select_runs(store, select)
    metas = {n: store.meta(n) for n in names}
    models = {n: load_model(store, n) for n in names}  # all readable, or nothing is written
    updates, rows = {}, []
    for name, model in models.items():
        meta, data = metas[name], metas[name]["config"]["data"]
        res = benchmark_model(model, tuple(data["input_shape"]), data["num_classes"], cfg)
        main = res["latency"][str(max(cfg.batch_sizes))]  # the contract's latency fields
        updates[name] = {
            "latency": {**main, "by_batch_size": res["latency"]},
            "approx_linear_flops": res["flops_linear"],
            "nonlinear_units": res["nonlinear_units"],
            "benchmark": {k: v for k, v in res.items() if k != "latency"},
        }
        row = {
            "run": name,
            "dataset": meta["config"]["dataset"],
            "baseline": _baseline(meta, metas),
            "approach": meta["config"]["approach"],
            "linear_ratio": meta["metrics"]["linear_ratio"],
            "test_acc": meta["metrics"]["test_acc"],
            **{k: v for k, v in res.items() if k != "latency"},
        }
        for bs, lat in res["latency"].items():
            row[f"p50_ms_b{bs}"] = 1e3 * lat["p50_latency_s"]
            row[f"p90_ms_b{bs}"] = 1e3 * lat["p90_latency_s"]
            row[f"samples_per_s_b{bs}"] = lat["samples_per_second"]
            row[f"energy_j_per_sample_b{bs}"] = lat.get("energy_j_per_sample")
        rows.append(row)
        log.info(
            "%s: p50 %s ms, %d FLOPs, %d nonlinear units",
            name,
            {b: round(1e3 * v["p50_latency_s"], 3) for b, v in res["latency"].items()},
            res["flops_total"],
            res["nonlinear_units"],
        )
    comparison = compare_latency(models, metas, rows, cfg)
    table = pd.DataFrame(rows)
    ratios = comparison.pivot(index="run", columns="batch_size", values="latency_ratio")
    ratios.columns = [f"latency_ratio_b{bs}" for bs in ratios.columns]
    return updates, comparison, table.merge(ratios, left_on="run", right_index=True, how="left")


def compare_latency(
    models: dict[str, torch.nn.Module], metas: dict[str, dict], rows: list[dict], cfg
) -> pd.DataFrame:
    """Runs timed in turns in one process, per input shape, each against its baseline."""
    device = cfg.resolve_device()
    by_input: dict[tuple, list[dict]] = {}
    for r in rows:
        data = metas[r["run"]]["config"]["data"]
        by_input.setdefault((tuple(data["input_shape"]), data["kind"]), []).append(r)
    out = []
    for (shape, kind), group in by_input.items():
        loaded = {r["run"]: models[r["run"]].to(device) for r in group}
        for bs in cfg.batch_sizes:
            x = (
                torch.ones((bs, *shape), dtype=torch.long, device=device)
                if kind == "text"
                else torch.randn((bs, *shape), device=device)
            )
            p50 = interleaved_latency(loaded, x, cfg.compare_rounds)
            for r in group:
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
