import os
import shutil
from pathlib import Path

import pytest
import torch

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def digits_splits():
    from nonlinearity.data import load_raw, make_splits

    return make_splits(load_raw("digits", "unused"), val_fraction=0.1, test_fraction=0.2, seed=0)


TINY_MODEL = {"name": "mlp", "hidden_sizes": [32, 32, 32], "activation": "relu"}
TINY_TRAINING = {"epochs": 2, "batch_size": 64, "lr": 5e-3, "device": "cpu"}
TINY_MEASURE = {"latency_batch_size": 8, "min_run_time_s": 0.01}

# The runs of the sweep in conf/base/parameters_train_*.yml, by namespace, in sweep order.
SEEDS = (0, 1, 2)
DEFAULT_RUNS = [
    *(f"fixed_{r}_s{s}" for r in (0, 25, 50, 75, 100) for s in SEEDS),
    *(f"layerwise-{n}_s{s}" for n in ("low_to_high", "high_to_low") for s in SEEDS),
    *(f"gated-base_s{s}" for s in SEEDS),
    *(f"matched-base_s{s}" for s in SEEDS),
]
# The latency block of meta.json (guide §5.2 plus what the issue asks for).
LATENCY_KEYS = {
    "mean_latency_s",
    "p50_latency_s",
    "p90_latency_s",
    "samples_per_second",
    "batch_size",
    "device",
}

REPO = Path(__file__).resolve().parents[1]
LAYERS = [
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
]


def scratch_project(root: Path) -> Path:
    """A copy of the project's conf and pyproject in `root`, with empty data layers."""
    shutil.copytree(REPO / "conf", root / "conf")
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(REPO / name, root)
    (root / "src").mkdir()  # Kedro checks it exists; the package itself is installed
    for layer in LAYERS:
        (root / "data" / layer).mkdir(parents=True)
    return root


def run_default(project: Path, runtime_params: dict) -> None:
    """`kedro run` of `project` in this process, from its folder (the registry reads the
    sweep from the conf folder under the working directory)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    cwd = Path.cwd()
    os.chdir(project)
    try:
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=runtime_params) as s:
            s.run()
    finally:
        os.chdir(cwd)


def free_port() -> int:
    """A free port below 49152: kedro-viz refuses the ephemeral range the OS hands out for 0."""
    import random
    import socket

    for port in random.sample(range(20_000, 49_000), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-49000")
