"""`kedro jupyter notebook|lab`, and notebooks/explore_runs.ipynb executed headless in the
kernel `kedro jupyter setup` makes, on a tiny default run (a scratch conf whose sweep is
3 ratios x 2 seeds). Jupyter's folders are in tmp: no kernel spec is left in ~/.local."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import REPO, run_default, scratch_project

nbclient = pytest.importorskip("nbclient")
import nbformat  # noqa: E402  (nbclient brings it)

KEDRO = str(Path(sys.executable).with_name("kedro"))
NOTEBOOK = REPO / "notebooks" / "explore_runs.ipynb"
JUPYTER_DIRS = {  # environment variable -> folder under the test's tmp
    "JUPYTER_DATA_DIR": "jupyter",  # kernels/kedro_nonlinearity/kernel.json
    "JUPYTER_CONFIG_DIR": "jupyter-config",
    "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
    "IPYTHONDIR": "ipython",
}
SWEEP = {  # the scratch conf's sweep, in place of conf/base's
    "train_fixed": {"ratios": [0.0, 0.5, 1.0], "seeds": [0, 1], "layerwise": {"schedules": {}}},
    "train_gated": {"variants": {}},
}
KEYS = [f"fixed_{r}_s{s}" for r in (0, 50, 100) for s in (0, 1)]
KEYS += ["pruned-fixed_0_s0", "pruned-fixed_0_s1"]  # pruning.sources: fixed_0_s*, gated-*
FAST = {
    "training": {"epochs": 2},
    "measure": {"latency_batch_size": 8, "min_run_time_s": 0.01},
    "model": {"hidden_sizes": [32, 32, 32]},
    "benchmark": {"min_run_time_s": 0.01, "train_steps": 2, "compare_rounds": 2},
    "pruning": {"finetune_epochs": 1},
}
TITLES = {  # the first line of Jupyter's own help
    "notebook": "Jupyter Notebook - A web-based notebook environment",
    "lab": "JupyterLab - An extensible computational environment",
}


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        **{key: str(tmp / name) for key, name in JUPYTER_DIRS.items()},
    }


def _kedro(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [KEDRO, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _done(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict[str, str], subprocess.Popen]:
    """A scratch project after `kedro run`: six runs and two pruned runs; with the
    `kedro jupyter setup` that ran beside it (its process, to wait for)."""
    project = scratch_project(tmp_path_factory.mktemp("tiny"))
    for name, sweep in SWEEP.items():
        path = project / "conf" / "base" / f"parameters_{name}.yml"
        conf = yaml.safe_load(path.read_text())
        conf[name].update(sweep)
        path.write_text(yaml.safe_dump(conf))
    env = _env(tmp_path_factory.mktemp("home"))
    setup = _kedro(project, env, "jupyter", "setup")  # on the other core, while this trains
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 32-wide layers: one thread is fastest, and steady on a busy CPU
    try:
        run_default(project, FAST)
    finally:
        torch.set_num_threads(threads)
    return project, env, setup


def test_kedro_jupyter_help(tmp_path):
    """`kedro jupyter notebook|lab --help`: each finds its server's module, makes the
    project's kernel and hands --help on to Jupyter."""
    project = scratch_project(tmp_path / "p")
    env = _env(tmp_path)
    procs = {cmd: _kedro(project, env, "jupyter", cmd, "--help") for cmd in TITLES}
    for cmd, proc in procs.items():
        code, out = _done(proc)
        assert code == 0, out
        assert (
            f"-m jupyter {cmd} --MultiKernelManager.default_kernel_name=kedro_nonlinearity" in out
        )
        assert TITLES[cmd] in out and "--help-all" in out
        assert "NoneType" not in out
    assert (tmp_path / "jupyter" / "kernels" / "kedro_nonlinearity" / "kernel.json").is_file()


def test_explore_runs_notebook(tiny):
    """The notebook, committed without outputs, runs in the Kedro kernel on the tiny run's
    catalog: the summary lists every run, and the plot is drawn."""
    project, env, setup = tiny
    code, out = _done(setup)
    assert code == 0 and "The kernel has been created successfully" in out, out
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata.kernelspec.name == "kedro_nonlinearity"
    assert not [o for c in nb.cells for o in c.get("outputs", [])]

    (project / "notebooks").mkdir()
    client = nbclient.NotebookClient(
        nb, timeout=120, resources={"metadata": {"path": project / "notebooks"}}
    )
    with pytest.MonkeyPatch.context() as mp:  # where the kernel spec is; the kernel inherits it
        for key in [*JUPYTER_DIRS, "KEDRO_DISABLE_TELEMETRY"]:
            mp.setenv(key, env[key])
        client.execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    names = sorted(p.name for p in (project / "data" / "07_model_output" / "runs").iterdir())
    assert sorted(n.removeprefix("digits_mlp_").rsplit("_c", 1)[0] for n in names) == sorted(KEYS)
    text = "".join(o.get("text", "") for o in outputs)
    assert f"{len(names)} runs of digits · mlp" in text
    results = [o["data"] for o in outputs if o.output_type == "execute_result"]
    summary = results[0]["text/html"]  # one row per run
    assert sorted(set(re.findall(r"digits_mlp_[\w-]+_c[0-9a-f]{6}", summary))) == names
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert "digits_mlp_fixed_50_s" in text  # the fixed run closest to half linear
