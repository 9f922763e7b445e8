"""Runners for sweeps that outgrow one process: `kedro run --runner=ParallelRunner | DaskRunner`.

ParallelRunner is Kedro's, with a CPU thread budget: each worker process starts with
`cores // workers` threads (`device.thread_budget`; `--runner-params=threads=N` overrides).
Without it every worker starts torch's default, one thread per core, and W workers on C
cores spin W x C OpenMP threads: epochs 4-5x slower than one process alone.

DaskRunner sends each node to a `dask.distributed` cluster, as one task whose
dependencies are the tasks of the nodes that write its inputs; Dask schedules them,
places them and retries a task whose worker died. It is an adapter, not a scheduler:

    node n  ->  client.submit(run n, *futures of the nodes n reads from, resources=...)

* Where: `--runner-params=address=tcp://host:8786`, else Dask's DASK_SCHEDULER_ADDRESS,
  else `address` in conf/<env>/dask.yml; without one, a local cluster of `n_workers`
  processes (default: one per core) with one thread each.
* Data: nodes meet only through persisted catalog datasets (files on storage every
  worker sees, by the same absolute path); a dataset that one node writes and another
  reads must not be a MemoryDataset, which the runner refuses before anything runs.
* GPUs: a training node asks for the worker resource `GPU` when its run's device is
  CUDA (or `auto` and some worker has GPUs): 1 for a full model, 1 / `small_runs_per_gpu`
  for a small run (an MLP, a head on cached features), so a worker started with
  `--resources GPU=1 --nthreads 4` trains four heads at once on its GPU, or one backbone.
* Failures: one failed node does not stop the others; the nodes after it do not run.
  At the end one line names the runs that did not finish (their worker died, or they
  raised); the same command again skips complete runs and resumes cut ones from their
  checkpoints.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
from collections import Counter
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import AbstractRunner
from kedro.runner import ParallelRunner as KedroParallelRunner

from .device import cpu_cores, thread_budget, use_threads
from .errors import ConfigError, NonlinearityError

PACKAGE = __name__.split(".")[0]
log = logging.getLogger(__name__)
# Kedro's own lines (each node completed, the run's end) stay under Kedro's logger, which
# conf/logging.yml keeps at WARNING; the runners' own lines are this module's.
KEDRO_LOGGER = property(lambda self: logging.getLogger("kedro.runner"))


class ParallelRunner(KedroParallelRunner):
    """Kedro's ParallelRunner whose worker processes start with `threads` CPU threads
    each (None: cores // workers), and start when the runner is made: each imports torch
    and the project (~4 s) while Kedro loads the catalog and checks the params, instead
    of the first worker before the first node and the second when the sweep begins."""

    def __init__(
        self, max_workers: int | None = None, is_async: bool = False, threads: int | None = None
    ) -> None:
        super().__init__(max_workers=max_workers, is_async=is_async)
        self._threads = _positive(threads, "threads")
        self._pool: ProcessPoolExecutor | None = self._start_pool(self._max_workers)
        _STARTING.append(self._pool)

    _logger = KEDRO_LOGGER

    def _start_pool(self, workers: int) -> ProcessPoolExecutor:
        context = os.environ.get("KEDRO_MP_CONTEXT")
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context(context if context in ("fork", "spawn", "forkserver") else None),
            initializer=_warm_worker,
            initargs=(self._threads or thread_budget(workers),),
        )
        for _ in range(workers):  # a process is spawned per task submitted while none is idle
            pool.submit(int)
        return pool

    def _get_executor(self, max_workers: int) -> Executor:
        pool, self._pool = self._pool, None
        if pool in _STARTING:
            _STARTING.remove(pool)
        if pool is None or max_workers != pool._max_workers:  # a pipeline of fewer nodes
            if pool is not None:
                _close(pool)
            pool = self._start_pool(max_workers)
        threads = self._threads or thread_budget(max_workers)
        log.info(
            "ParallelRunner: %d worker processes, %d CPU thread%s each",
            max_workers,
            threads,
            "" if threads == 1 else "s",
        )
        return pool


def _warm_worker(threads: int) -> None:
    """A ParallelRunner worker's start: the project's settings (Kedro 1.7's spawned workers
    do not load them, so the project's hooks would not run there, and the hooks of
    plugins it disables would), its thread budget, then what every training node needs
    imported (the project's training stack; torch._dynamo, which the first optimizer
    imports, ~1 s)."""
    from kedro.framework.project import settings

    # not configure_project: Kedro's Task bootstraps logging again and recurses
    settings.configure(f"{PACKAGE}.settings")
    use_threads(threads)
    import torch

    from .pipelines import per_run  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def _close(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now, mid-start or idle, without waiting for them."""
    processes = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()


class RunsIncompleteError(NonlinearityError):
    """Some nodes of a run on a cluster did not finish; the others did."""


class ClusterUnavailableError(NonlinearityError):
    """The scheduler the runner was pointed at does not answer."""


class DaskRunner(AbstractRunner):
    """Each node a task on a `dask.distributed` cluster (see the module's docstring).

    `address`: a running scheduler; None: DASK_SCHEDULER_ADDRESS, then conf/<env>/dask.yml's
    `address`, else a local cluster of `n_workers` processes. `threads`: CPU
    threads per worker process (None: the host's cores // its workers).
    """

    def __init__(
        self,
        address: str | None = None,
        n_workers: int | None = None,
        threads: int | None = None,
        small_runs_per_gpu: int | None = None,
        is_async: bool = False,
    ) -> None:
        super().__init__(is_async=is_async)
        conf = dask_conf()
        self._address = address or os.environ.get("DASK_SCHEDULER_ADDRESS") or conf.get("address")
        local = conf.get("local_cluster") or {}
        self._n_workers = _positive(n_workers or local.get("n_workers"), "n_workers")
        self._threads = _positive(threads, "threads")
        per_gpu = small_runs_per_gpu or conf.get("small_runs_per_gpu") or 4
        self._small_share = 1 / _positive(per_gpu, "small_runs_per_gpu")
        # A local cluster starts now, while Kedro loads the catalog and checks the params:
        # its workers import torch and the project (~4 s) before the first node needs them.
        self._starting = None if self._address else _background(self._local_cluster)
        if self._starting is not None:
            _STARTING.append(self._starting)

    _logger = KEDRO_LOGGER

    # Kedro's runner interface ------------------------------------------------------------
    def _get_executor(self, max_workers: int) -> Executor | None:
        return None  # unused: _run hands the whole graph to Dask

    def _run(
        self,
        pipeline: Pipeline,
        catalog: Any,
        hook_manager: Any = None,
        run_id: str | None = None,
    ) -> None:
        check_persisted(pipeline, catalog)
        from distributed import Client

        cluster = _Remote(self._address) if self._starting is None else self._starting.result()
        if self._starting in _STARTING:
            _STARTING.remove(self._starting)
        with cluster as target, self._connect(Client, target) as client:
            info = client.scheduler_info(n_workers=-1)  # every worker, once
            log.info("DaskRunner: %s", _describe(client, info, self._address))
            setup = WorkerSetup(_logging(), self._threads, _hosts(info))
            shared = client.scatter(catalog, broadcast=True, hash=False)
            futures = self._submit(
                client, pipeline, shared, run_id, setup, catalog, _has_gpus(info)
            )
            self._collect(pipeline, futures)

    # the adapter -------------------------------------------------------------------------
    def _local_cluster(self) -> Any:
        import dask
        from distributed import LocalCluster
        from kedro.framework.project import configure_logging

        configure_logging(_logging())  # again: importing distributed set its loggers to INFO
        # ... which it does in each worker process too, from this variable if set
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        # Dask's statistical profiler samples every worker thread's stack each 10 ms: with
        # training loops that hold the GIL between small kernels, epochs took 1.65x as long
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            return LocalCluster(
                n_workers=self._n_workers or cpu_cores(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=_dashboard(),
                silence_logs=logging.WARNING,
                preload=[f"{PACKAGE}.run.train"],  # torch and the project, at worker start
            )

    def _connect(self, client: Any, cluster: Any) -> Any:
        try:
            return client(cluster, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ClusterUnavailableError(
                f"DaskRunner: no Dask scheduler answers at {self._address} ({exc}); start one "
                "(`dask scheduler`), or give no address for a local cluster"
            ) from None

    def _submit(
        self,
        client: Any,
        pipeline: Pipeline,
        catalog: Any,
        run_id: str | None,
        setup: WorkerSetup,
        local_catalog: Any,
        gpus: bool,
    ) -> dict[Any, Any]:
        asks = {n: gpu_request(n, local_catalog, gpus, self._small_share) for n in pipeline.nodes}
        if not gpus and (wants := [n.name for n, a in asks.items() if a]):
            raise ConfigError(
                f"DaskRunner: {wants[0]} runs on CUDA (training.device) and no worker of the "
                "cluster has the resource GPU: start GPU workers with `dask worker <address> "
                "--resources GPU=1`, or set training.device=auto"
            )
        writers = {out: n for n in pipeline.nodes for out in n.outputs}
        futures: dict[Any, Any] = {}
        for n in pipeline.nodes:  # in topological order: parents are submitted first
            after = sorted({writers[i] for i in n.inputs if i in writers}, key=lambda m: m.name)
            futures[n] = client.submit(
                run_node,
                n,
                catalog,
                run_id,
                setup,
                *(futures[m] for m in after),
                key=f"{n.name}-{run_id or os.getpid()}",
                resources=asks[n],
                pure=False,
            )
        return futures

    def _collect(self, pipeline: Pipeline, futures: dict[Any, Any]) -> None:
        from distributed import as_completed

        nodes = {f.key: n for n, f in futures.items()}
        failed: dict[str, str] = {}
        done = 0
        for future in as_completed(list(futures.values())):
            n = nodes[future.key]
            if future.status == "finished":
                done += 1
                self._logger.info("Completed node: %s", n.name)
                self._logger.info("Completed %d out of %d tasks", done, len(nodes))
                continue
            why = _why(future.exception())
            failed[n.name] = why
        if failed:
            raise RunsIncompleteError(incomplete(pipeline, failed))


def run_node(node: Any, catalog: Any, run_id: str | None, setup: WorkerSetup, *after: Any) -> str:
    """One node on a worker: the project set up once per process, then Kedro's Task.

    `after`: the results of the nodes it reads from, only so that Dask runs it after them.
    """
    from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks
    from kedro.framework.project import settings
    from kedro.runner.task import Task

    _start_worker(setup)
    hooks = _create_hook_manager()
    _register_hooks(hooks, settings.HOOKS)
    Task(node=node, catalog=catalog, is_async=False, hook_manager=hooks, run_id=run_id).execute()
    return node.name


_STARTED: list[int] = []  # this process's id, once it has started as a worker


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs before its first node: the project's logging, and its
    CPU threads (`threads`, or its host's cores // the workers on that host)."""

    logging: dict
    threads: int | None
    workers_per_host: tuple[tuple[str, int], ...]

    def thread_count(self, host: str) -> int:
        return self.threads or thread_budget(dict(self.workers_per_host).get(host, 1))


def _start_worker(setup: WorkerSetup) -> None:
    if _STARTED:
        return
    _STARTED.append(os.getpid())
    from distributed import get_worker
    from kedro.framework.project import configure_logging, configure_project

    configure_project(PACKAGE)
    configure_logging(setup.logging)
    host = get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    use_threads(setup.thread_count(host))
    _heap_for_tensors()


def _heap_for_tensors() -> None:
    """Undo what Dask's nanny sets for numpy-style workloads: MALLOC_TRIM_THRESHOLD_=65536
    returns freed memory to the OS at once and (as any fixed malloc threshold does) pins
    glibc's mmap threshold at 128 KiB, so every tensor buffer above that is mapped and
    unmapped at each step: a batch-256 forward of the digits MLP took 2x as long. Training
    reuses its buffers, so keep them: both thresholds back up (glibc only)."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameters
    libc.mallopt(m_trim_threshold, 128 * 2**20)
    libc.mallopt(m_mmap_threshold, 32 * 2**20)


# what the runner decides, as functions of the pipeline and catalog ---------------------
def check_persisted(pipeline: Pipeline, catalog: Any) -> None:
    """Refuse, before any work, datasets that pass between nodes in memory."""
    passed = pipeline.all_outputs() & pipeline.all_inputs()
    memory = sorted(d for d in passed if isinstance(_dataset(catalog, d), MemoryDataset))
    if memory:
        more = f" and {len(memory) - 3} more" if len(memory) > 3 else ""
        raise ConfigError(
            f"DaskRunner: nodes on a cluster meet only through persisted datasets, and "
            f"{', '.join(memory[:3])}{more} would pass in memory: give them a file "
            f"dataset in conf/base/catalog.yml"
        )


def _params(catalog: Any, name: str) -> Any:
    """A parameter's value, read without the catalog's log line."""
    return _dataset(catalog, name).load()


def _dataset(catalog: Any, name: str) -> Any:
    """The catalog's dataset for `name`, a MemoryDataset when nothing in conf matches it."""
    return catalog.get(name, fallback_to_runtime_pattern=True)


def gpu_request(node: Any, catalog: Any, gpus: bool, small_share: float) -> dict[str, float]:
    """The GPU resource a training node asks for: {} off CUDA, 1 for a full model,
    `small_share` for an MLP or a head on cached features."""
    if not node.name.endswith(".train") or "params:training" not in node.inputs:
        return {}
    device = str((_params(catalog, "params:training") or {}).get("device", "auto"))
    if not (device.startswith("cuda") or (device == "auto" and gpus)):
        return {}
    model = _params(catalog, "params:model") or {}
    small = model.get("name") == "mlp" or (
        model.get("freeze_backbone") and model.get("target", "head") == "head"
    )
    return {"GPU": small_share if small else 1.0}


def incomplete(pipeline: Pipeline, failed: dict[str, str]) -> str:
    """One line: which runs (or other nodes) failed and why, how many nodes did not run
    because they come after them, and what to do. `failed`: node name -> why."""
    parents = {n.name: {p.name for p in ps} for n, ps in pipeline.node_dependencies.items()}
    own = {n: why for n, why in failed.items() if not parents.get(n, set()) & failed.keys()}
    runs = {n.removesuffix(".train"): why for n, why in own.items() if n.endswith(".train")}
    parts = [
        f"{_count(keys, 'run')} did not finish ({why}): {', '.join(keys)}"
        for why in dict.fromkeys(runs.values())
        if (keys := [k for k, w in runs.items() if w == why])
    ]
    parts += [f"node {n} failed ({why})" for n, why in own.items() if not n.endswith(".train")]
    after = len(failed) - len(own)
    tail = f"; {_count(range(after), 'node')} after them did not run" if after else ""
    return (
        f"{'; '.join(parts)}{tail}; the other {len(pipeline.nodes) - len(failed)} finished. "
        "Run the same command again: complete runs are skipped, cut ones resume from their "
        "checkpoints"
    )


def _count(items: Any, noun: str) -> str:
    n = len(items)
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _why(exc: BaseException | None) -> str:
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        return "its worker died"
    text = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def dask_conf(project: Path | None = None) -> dict[str, Any]:
    """conf/base/dask.yml under conf/<env>/dask.yml (env: KEDRO_ENV, default local)."""
    from kedro.config import OmegaConfigLoader
    from kedro.utils import find_kedro_project

    root = project or find_kedro_project(Path.cwd())
    if root is None:
        return {}
    loader = OmegaConfigLoader(
        str(Path(root) / "conf"),
        base_env="base",
        default_run_env="local",
        env=os.environ.get("KEDRO_ENV"),
        config_patterns={"dask": ["dask*", "dask*/**"]},
    )
    try:
        return dict(loader["dask"])
    except KeyError:
        return {}


class _Remote:
    """A running scheduler, as a context like a LocalCluster (there is nothing to close)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def __enter__(self) -> str:
        return self.address

    def __exit__(self, *exc: Any) -> None:
        return None


def _describe(client: Any, info: dict, address: str | None) -> str:
    workers = info["workers"].values()
    threads = sum(w["nthreads"] for w in workers)
    where = f"scheduler {address}" if address else "a local cluster"
    services = info.get("services", {})
    link = f"dashboard {client.dashboard_link}" if "dashboard" in services else "no dashboard"
    return f"{len(workers)} workers ({threads} threads) on {where}; {link}"


def _has_gpus(info: dict) -> bool:
    workers = info["workers"].values()
    return any((w.get("resources") or {}).get("GPU", 0) > 0 for w in workers)


def _hosts(info: dict) -> tuple[tuple[str, int], ...]:
    """Worker processes per host (as the scheduler names hosts)."""
    workers = info["workers"].values()
    return tuple(sorted(Counter(w["host"] for w in workers).items()))


def _logging() -> dict:
    from kedro.framework.project import LOGGING

    return dict(getattr(LOGGING, "data", LOGGING))


_STARTING: list[Any] = []  # worker pools, local clusters started for runs not begun yet


def close_unused_workers() -> None:
    """Stop the worker pools and local clusters of runs that stopped before their first
    node (bad input), so that no worker's start-up line comes after the error, and the
    command does not wait for workers still importing torch."""
    while _STARTING:
        started = _STARTING.pop()
        with contextlib.suppress(Exception):
            if isinstance(started, ProcessPoolExecutor):
                _close(started)
            else:
                started.result().close()


def _background(start: Any) -> Any:
    """`start()` in a thread: its future."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, thread_name_prefix="dask-cluster")
    future = pool.submit(start)
    pool.shutdown(wait=False)
    return future


def _dashboard() -> str | None:
    """The local cluster's dashboard address: Dask's port, or any free one if it is taken."""
    import socket

    with socket.socket() as s:
        return ":8787" if s.connect_ex(("127.0.0.1", 8787)) != 0 else ":0"


def _positive(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"--runner-params {name}={value!r} is invalid: must be a positive integer"
        )
    return value
