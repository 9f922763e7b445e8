"""MLflow tracking (the `mlflow` extra: kedro-mlflow, MLflow 3), on when conf has mlflow.yml.

    kedro run                      the parent MLflow run (kedro-mlflow's): the parameters the
    │                              pipeline reads, report.md and figures/ as artefacts
    └─ <run_name>                  one nested run per run record (training and pruning):
                                   settings and fingerprint as params; per-epoch metrics as
                                   histories; test metrics, linear share, nonlinear units as
                                   final metrics, latency and FLOPs once the benchmark has
                                   measured them; the run's files as artefacts

A run is logged by the process that ran its node (a ParallelRunner or Dask worker), with an
explicit `MlflowClient` and run ids, never through an active run (kedro-mlflow#689). Where
to log reaches the workers in the catalog (`hook.TRACKING`), which every runner hands them.

`hook` (the Kedro side) imports neither MLflow nor kedro-mlflow until conf switches
tracking on; `runs` makes the MLflow runs, `entries` their params and metrics.
"""

from .hook import TRACKING, MlflowTrackingHook, Tracking

__all__ = ["TRACKING", "MlflowTrackingHook", "Tracking"]
