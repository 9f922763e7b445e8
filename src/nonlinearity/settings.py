"""Project settings (https://docs.kedro.org/en/stable/kedro_project_setup/settings.html)."""

import os

from kedro.config import OmegaConfigLoader

from nonlinearity.hooks import SweepSummaryHook, ValidateParamsHook
from nonlinearity.tracking import MlflowTrackingHook

# MlflowTrackingHook: MLflow tracking when conf has a mlflow.yml (the `mlflow` extra);
# without one it imports nothing and does nothing.
HOOKS = (ValidateParamsHook(), SweepSummaryHook(), MlflowTrackingHook())

# kedro-mlflow registers its own hook on install; MlflowTrackingHook runs it only when conf
# has a mlflow.yml (without one it would log to ./mlruns, a store MLflow 3 refuses).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # soft: `--params=training.lr=0.1` keeps the other training.* keys even when
    # conf/local has a parameters file (Kedro's default merge is destructive).
    "merge_strategy": {"parameters": "soft"},
}

# ParallelRunner: forked workers hang in PyTorch's OpenMP pool once the parent has run
# a forward pass (the validation hook does); spawned workers start clean.
os.environ.setdefault("KEDRO_MP_CONTEXT", "spawn")
