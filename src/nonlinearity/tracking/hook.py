"""The Kedro side of tracking: kedro-mlflow's hook when conf has mlflow.yml, and each saved
run logged from the process that saved it.

Switch: a `mlflow.yml` in conf/base or conf/<env> (`kedro mlflow init` writes one in
conf/local). Without it this hook imports nothing and logs nothing; with it and without
the extra, the session stops with one line. kedro-mlflow's own entry-point hook is
disabled (settings.py): without mlflow.yml it would log to ./mlruns, a store MLflow 3
refuses, and it logs through the active run, which worker processes do not share.

Store: mlflow.yml's `server.mlflow_tracking_uri`, else MLFLOW_TRACKING_URI, else the
project's SQLite store `data/09_tracking/mlflow.db` with artefacts in
`data/09_tracking/artifacts/`.

Runners: SequentialRunner and ThreadRunner log in the main process, ParallelRunner's and
DaskRunner's workers the runs they train (they must reach the store: the same absolute
path, or a tracking server).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from ..errors import ConfigError

log = logging.getLogger(__name__)

PACKAGE = __name__.split(".")[0]
TRACKING = "mlflow_tracking"  # the catalog entry that tells each node's process where to log
PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]  # kedro-mlflow's config pattern
STORE_DIR = "data/09_tracking"  # the default store: mlflow.db and artifacts/
REPORT, FIGURE = "report", "figure_"  # the reporting outputs logged on the parent run


@dataclass(frozen=True)
class Tracking:
    """Where a process logs: the store, the experiment, the parent (kedro run's) MLflow run."""

    uri: str
    experiment_id: str
    parent_run_id: str
    source_tags: tuple[tuple[str, str], ...] = ()  # user, source, git commit: children copy them


@dataclass(frozen=True)
class _Node:
    tracking: Tracking
    catalog: Any
    store: Any  # the node's run store input, if it reads one


class MlflowTrackingHook:
    """kedro-mlflow's parent run per `kedro run`; one nested MLflow run per run record, logged
    where the record is saved: training nodes (`<key>.record`), pruning (`pruned_runs`); the
    benchmark's latency and FLOPs (`benchmark_meta`); report and figures on the parent."""

    def __init__(self) -> None:
        self._plugin: Any = None  # kedro-mlflow's hook, in the main process of a tracked run
        self._nodes: dict[str, _Node] = {}  # node name -> where it logs, where it runs

    # main process: the parent run -----------------------------------------------------------
    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._plugin = None  # settings.HOOKS outlive a session
        conf = _mlflow_conf(context)
        if conf is not None:
            self._plugin = _plugin()
            with _project_store(context, conf):
                self._plugin.after_context_created(context=context)

    @hook_impl
    def after_catalog_created(
        self,
        catalog: Any,
        conf_catalog: Any,
        conf_creds: Any,
        parameters: Any,
        save_version: Any,
        load_versions: Any,
    ) -> None:
        if self._plugin is not None:
            self._plugin.after_catalog_created(
                catalog=catalog,
                conf_catalog=conf_catalog,
                conf_creds=conf_creds,
                parameters=parameters,
                save_version=save_version,
                load_versions=load_versions,
            )

    @hook_impl(trylast=True)  # after the checks of ValidateParamsHook: bad input logs nothing
    def before_pipeline_run(self, run_params: dict, pipeline: Any, catalog: Any) -> None:
        if self._plugin is None:
            return
        self._plugin.before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
        if self._plugin.run_id is None:  # mlflow.yml disables tracking for this pipeline
            return
        from . import runs

        uri = self._plugin.mlflow_config.server.mlflow_tracking_uri
        tracking = runs.parent_tracking(uri, self._plugin.run_id)
        names = sorted(i for i in pipeline.inputs() if i.startswith("params:"))
        params = {n.removeprefix("params:"): catalog.get(n).load() for n in names}
        dataset = (catalog.get("parameters").load() or {}).get("dataset")
        runs.log_parent(tracking, params, {"dataset": dataset})
        catalog[TRACKING] = MemoryDataset(tracking)
        log.info("MLflow: run %s in %s", tracking.parent_run_id, uri)

    @hook_impl(tryfirst=True)  # before SweepSummaryHook, which raises when runs failed
    def after_pipeline_run(self, run_params: dict, pipeline: Any, catalog: Any) -> None:
        if self._plugin is not None:
            self._plugin.after_pipeline_run(
                run_params=run_params, pipeline=pipeline, catalog=catalog
            )

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict, pipeline: Any, catalog: Any
    ) -> None:
        if self._plugin is not None:
            self._plugin.on_pipeline_error(
                error=error, run_params=run_params, pipeline=pipeline, catalog=catalog
            )

    # the process that runs the node: its saved outputs ----------------------------------------
    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any]) -> None:
        dataset = catalog.get(TRACKING)
        if dataset is None:
            self._nodes.pop(node.name, None)
            return
        self._nodes[node.name] = _Node(dataset.load(), catalog, inputs.get("run_store"))

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        where = self._nodes.get(node.name)
        if where is None:
            return
        try:
            _log_saved(where, dataset_name, data)
        except Exception as exc:  # the record is stored; tracking must not fail the sweep
            log.warning(
                "MLflow: could not log %s (%s: %s); the next kedro run logs the runs it lacks",
                dataset_name,
                type(exc).__name__,
                exc,
            )


def _log_saved(where: _Node, name: str, data: Any) -> None:
    from . import runs

    tracking, store = where.tracking, where.store
    if name.endswith(".record"):
        records = data if isinstance(data, list) else [data]
        for record in records:
            if not record.not_trained:
                runs.log_run(tracking, store, record.name)
    elif name.endswith("pruned_runs") and store is not None:  # `<key>.pruned_runs`: the
        for run_name in data:  # pruning node of one key; `pruned_runs`: all (pruning alone)
            runs.log_run(tracking, store, run_name)
    elif name == "benchmark_meta":
        missing = runs.log_benchmark(tracking, store, data)
        if missing:
            log.info(
                "MLflow: %d measured runs have no MLflow run (no tracked kedro run made them): %s",
                len(missing),
                ", ".join(missing),
            )
    elif name == REPORT or name.startswith(FIGURE):
        path = where.catalog.config_resolver.resolve_pattern(name).get("filepath")
        if path:
            runs.log_parent_file(tracking, str(path), "figures" if name != REPORT else None)


def _mlflow_conf(context: Any) -> dict | None:
    """conf's mlflow.yml (of any environment), or None when there is none."""
    loader = context.config_loader
    if "mlflow" not in loader.config_patterns:
        loader.config_patterns.update({"mlflow": PATTERNS})
    try:
        return dict(loader["mlflow"] or {})
    except MissingConfigException:
        return None


def _plugin() -> Any:
    try:
        with warnings.catch_warnings():  # mlflow.pyfunc's note on type hints, at import
            warnings.simplefilter("ignore", UserWarning)
            from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
    except ImportError as exc:
        raise ConfigError(
            f"conf has a mlflow.yml, which switches MLflow tracking on, and {exc.name} is not "
            "installed: pip install -e '.[mlflow]', or remove mlflow.yml"
        ) from None
    return MlflowHook()


@contextmanager
def _project_store(context: Any, conf: dict) -> Iterator[None]:
    """The project's SQLite store while kedro-mlflow sets up, unless mlflow.yml or
    MLFLOW_TRACKING_URI name a store."""
    server = conf.get("server") or {}
    if server.get("mlflow_tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI"):
        yield
        return
    folder = Path(context.project_path).resolve() / STORE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    experiment = (conf.get("tracking") or {}).get("experiment") or {}
    if not (experiment.get("create_experiment_kwargs") or {}).get("artifact_location"):
        from . import runs

        name = experiment.get("name") or PACKAGE
        runs.ensure_experiment(uri, name, (folder / "artifacts").as_uri())
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
