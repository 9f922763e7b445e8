"""The default sweep with each runner, side by side: sequential, ParallelRunner, DaskRunner.

    python benchmarks/sweep_runners.py [--rounds 2] [--workers 2] [--pipelines sweep,__default__]

Each round runs `kedro run --pipelines=P` once per runner and pipeline, each from empty
data in its own scratch copy of the project, in an order that rotates from round to
round, so drift of a shared machine hits every runner alike. `sweep` is data_prep and
every training run; `__default__` adds analysis, pruning, the latency benchmark (timed
for a fixed time per model, alone: it cannot go faster with more workers) and the report.
It prints each run's wall time (the command, start-up included) and the speed-up of each
runner over the sequential one of the same round (median over rounds).

Runners use their defaults: sequential runs get torch's threads (one per core), the
parallel and Dask workers `cores // workers` each (`nonlinearity.device.thread_budget`);
`sequential-1` is the sequential runner with one thread per run (`training.threads=1`),
to tell the gain of running runs side by side from that of fewer threads per run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).with_name("kedro")
LAYERS = ("01_raw", "03_primary", "05_model_input", "07_model_output", "08_reporting")
SUMMARY = re.compile(r"(\d+) runs: (\d+) trained, (\d+) skipped")


def runners(workers: int) -> dict[str, list[str]]:
    return {
        "sequential": [],
        "sequential-1": ["--params=training.threads=1"],
        "parallel": ["--runner=ParallelRunner", f"--runner-params=max_workers={workers}"],
        "dask": ["--runner=DaskRunner", f"--runner-params=n_workers={workers}"],
    }


def scratch(root: Path) -> Path:
    """The project's conf and pyproject in `root`, with empty data layers."""
    shutil.copytree(ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, root)
    (root / "src").mkdir()
    for layer in LAYERS:
        (root / "data" / layer).mkdir(parents=True)
    return root


def run_once(project: Path, args: list[str], params: str | None, pipeline: str) -> dict:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "2000"}
    own = [a.removeprefix("--params=") for a in args if a.startswith("--params=")]
    args = [f"--pipelines={pipeline}", *(a for a in args if not a.startswith("--params="))]
    merged = ",".join([*own, *([params] if params else [])])
    cmd = [str(KEDRO), "run", *args, *([f"--params={merged}"] if merged else [])]
    started = time.perf_counter()
    done = subprocess.run(cmd, check=False, cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    log = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{log[-3000:]}")
    runs = SUMMARY.search(log)
    return {"wall_s": wall, "runs": f"{runs.group(2)} trained" if runs else "?"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=1, help="rounds of all runners (default 1)")
    ap.add_argument("--workers", type=int, default=2, help="processes of the parallel runners")
    ap.add_argument("--runners", default="sequential,sequential-1,parallel,dask")
    ap.add_argument("--params", default=None, help="--params for every run (key=value,...)")
    ap.add_argument("--pipelines", default="sweep,__default__", help="pipelines to time")
    args = ap.parse_args()
    chosen = {k: v for k, v in runners(args.workers).items() if k in args.runners.split(",")}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"{cores} cores; default sweep ({args.params or 'conf as is'}); "
        f"{args.workers} workers; {args.rounds} round(s)\n"
    )
    for pipeline in args.pipelines.split(","):
        results = time_runners(chosen, args.rounds, args.params, pipeline)
        print_table(results, pipeline, args.workers)


def time_runners(
    chosen: dict[str, list[str]], rounds: int, params: str | None, pipeline: str
) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {k: [] for k in chosen}
    names = list(chosen)
    with tempfile.TemporaryDirectory(prefix="sweep_runners_") as tmp:
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                project = scratch(Path(tmp) / f"{name}_{r}")
                result = run_once(project, chosen[name], params, pipeline)
                results[name].append(result)
                print(
                    f"{pipeline}  round {r + 1}  {name:<12} {result['wall_s']:7.1f} s wall "
                    f"({result['runs']})",
                    flush=True,
                )
                shutil.rmtree(project)
    return results


def print_table(results: dict[str, list[dict]], pipeline: str, workers: int) -> None:
    print(f"\n`kedro run --pipelines={pipeline}`\n")
    print("| runner | wall s (per round) | speed-up vs sequential |")
    print("|---|---|---|")
    for name, rs in results.items():
        walls = ", ".join(f"{x['wall_s']:.1f}" for x in rs)
        if "sequential" in results:
            ups = [
                s["wall_s"] / x["wall_s"] for s, x in zip(results["sequential"], rs, strict=True)
            ]
            speed = f"{statistics.median(ups):.2f}x" + (
                f" ({min(ups):.2f}-{max(ups):.2f})" if len(ups) > 1 else ""
            )
        else:
            speed = "-"
        label = {
            "sequential": "sequential (torch's threads: one per core)",
            "sequential-1": "sequential, training.threads=1",
            "parallel": f"ParallelRunner ({workers} workers)",
            "dask": f"DaskRunner (local, {workers} workers)",
        }[name]
        print(f"| {label} | {walls} | {speed} |")
    print()


if __name__ == "__main__":
    main()
