"""Faults injected for real into `kedro run`: nothing complete is ever lost or overwritten.

Each test works on scratch copies of the project (see `tests/test_run.py`) and runs the
CLI in subprocesses. A start costs ~8 s of imports, so the module-scoped fixtures run
independent commands at the same time, each in its own copy, and the tests read their
results. Logs are read as rich prints them, one line per message (COLUMNS is wide).
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import scratch_project

KEDRO = Path(sys.executable).with_name("kedro")
ENV = {
    **os.environ,
    "KEDRO_DISABLE_TELEMETRY": "true",
    "COLUMNS": "2000",  # rich wraps log lines at the terminal's width
    # One OpenMP thread per process: two processes at once on two cores, each with two
    # spinning threads, make epochs 10-100x slower. (Results depend on the thread count;
    # every run here has the same one.)
    "OMP_NUM_THREADS": "1",
}
# conf/local of every scratch project: tiny runs; soft merge keeps the other keys
LOCAL = """\
model: {hidden_sizes: [32, 32, 32]}
training: {epochs: 1, device: cpu}
measure: {latency_batch_size: 8, min_run_time_s: 0.01}
benchmark: {min_run_time_s: 0.01, train_steps: 2, compare_rounds: 2}
train_gated: {variants: {base: {finetune_epochs: 0}}}
"""
SUMMARY = (
    "{} runs: {} trained, {} skipped (complete record, same fingerprint; "
    "--params=rerun=true trains them again), {} failed"
)
SKIPPED = "{}: skipped, its complete record has the same fingerprint"
TOP_LEVEL = (
    "activation_analysis, benchmark, data, dataset, measure, model, pruning, reporting, rerun, "
    "robustness, select, setups, train_fixed, train_gated, training"
)
_LOG = re.compile(r"^\s*(?:\[[^\]]*\]\s+)?(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+(.*?)\s*$")


# --- scratch projects and the CLI -------------------------------------------------------
def _scaffold(root: Path) -> Path:
    scratch_project(root)
    (root / "conf" / "local").mkdir(exist_ok=True)
    (root / "conf" / "local" / "parameters.yml").write_text(LOCAL)
    return root


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)  # copy2: mtimes kept
    return dst


@contextlib.contextmanager
def _session(project: Path, **runtime_params):
    """An in-process session of `project` (for setup that is not the CLI under test)."""
    cwd = Path.cwd()
    os.chdir(project)
    try:
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
            yield session
    finally:
        os.chdir(cwd)


@dataclass
class Done:
    rc: int
    stdout: str
    stderr: str

    @property
    def messages(self) -> list[str]:
        """The log's messages, as the user reads them (first line of each)."""
        return [m[1] for line in self.stdout.splitlines() if (m := _LOG.match(line))]

    @property
    def last_error_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""

    def __str__(self) -> str:  # shown when an assertion fails
        return f"rc {self.rc}\n{self.stderr[-3000:]}\n" + "\n".join(self.messages[-40:])


class Kedro:
    """`kedro <args>` started in `project`, in its own process group."""

    def __init__(self, project: Path, *args: str, env: dict | None = None) -> None:
        self.out, self.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [str(KEDRO), *args],
            cwd=project,
            env=env or ENV,
            stdout=self.out,
            stderr=self.err,
            start_new_session=True,
        )

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def wait(self, timeout: float = 300) -> Done:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        texts = []
        for f in (self.out, self.err):
            f.seek(0)
            texts.append(f.read().decode(errors="replace"))
            f.close()
        return Done(self.proc.returncode, *texts)


def _kedro(project: Path, *args: str) -> Done:
    return Kedro(project, *args).wait()


def _together(*jobs: tuple) -> list[Done]:
    """Independent commands `(project, *args)`, run at the same time."""
    started = [Kedro(*job) for job in jobs]
    return [k.wait() for k in started]


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `root`: its bytes and mtime."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _runs(project: Path) -> Path:
    return project / "data" / "07_model_output" / "runs"


def _names(project: Path) -> set[str]:
    runs = _runs(project)
    return {p.name for p in runs.iterdir()} if runs.is_dir() else set()


def _meta(project: Path, name: str) -> dict:
    return json.loads((_runs(project) / name / "meta.json").read_text())


# --- fixtures: a prepared project, two stored runs, and what later commands make of them --
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A scratch project with the digits model input prepared (tiny settings in conf/local)."""
    project = _scaffold(tmp_path_factory.mktemp("template"))
    with _session(project) as session:
        session.run(pipeline_names=["data_prep"])
    assert (project / "data" / "05_model_input" / "digits").is_dir()
    return project


TWO_RUNS = ("run", "--namespaces=fixed_0_s0,fixed_50_s0")


@pytest.fixture(scope="module")
def trained(template, tmp_path_factory) -> tuple[Path, Done]:
    """`template` after `kedro run --namespaces=fixed_0_s0,fixed_50_s0`."""
    project = _copy(template, tmp_path_factory.mktemp("trained") / "p")
    done = _kedro(project, *TWO_RUNS)
    assert done.rc == 0, done
    return project, done


def _other_data(project: Path) -> None:
    """The model input on disk replaced by one of the same data settings but other contents
    (one training label changed), as data_prep records it: its fingerprint follows."""
    from nonlinearity.data.prepare import data_fingerprint

    with _session(project) as session:
        catalog = session.load_context().catalog
        splits = catalog.load("model_input")
        y = splits.y_train.clone()
        y[0] = (y[0] + 1) % splits.num_classes
        info = {k: v for k, v in splits.info.items() if k != "fingerprint"}
        other = replace(splits, y_train=y, info=info)
        assert data_fingerprint(other) != data_fingerprint(splits)
        catalog.save(
            "model_input", replace(other, info={**info, "fingerprint": data_fingerprint(other)})
        )


@pytest.fixture(scope="module")
def after(trained, tmp_path_factory) -> dict[str, tuple[Path, Done]]:
    """Copies of `trained`, each after one more command, run at the same time:
    `again`: the same sweep; `epochs`: with other settings (training.epochs=2); `data`: the
    same settings on other data; `diverged`: fixed_50_s0 with training.lr=1e30."""
    root = tmp_path_factory.mktemp("after")
    projects = {k: _copy(trained[0], root / k) for k in ("again", "epochs", "data", "diverged")}
    _other_data(projects["data"])
    commands = {
        "again": TWO_RUNS,
        "epochs": (*TWO_RUNS, "--params=training.epochs=2"),
        "data": TWO_RUNS,
        "diverged": ("run", "--namespaces=fixed_50_s0", "--params=training.lr=1e30"),
    }
    done = _together(*((projects[k], *args) for k, args in commands.items()))
    return {k: (projects[k], d) for k, d in zip(commands, done, strict=True)}


def _break(project: Path) -> tuple[str, str]:
    """Cut one run's meta.json short (a torn write) and delete another's history.json:
    fixed_0_s0 and fixed_50_s0 of the first settings (training.epochs=1)."""
    first = sorted(
        n for n in _names(project) if _meta(project, n)["settings"]["training"]["epochs"] == 1
    )
    torn, bare = first
    meta = _runs(project) / torn / "meta.json"
    meta.write_bytes(meta.read_bytes()[: meta.stat().st_size // 2])
    (_runs(project) / bare / "history.json").unlink()
    return torn, bare


@pytest.fixture(scope="module")
def reported(after, tmp_path_factory) -> dict[str, tuple]:
    """Reading pipelines, run at the same time: `failed`: reporting of after["diverged"];
    `reporting` and `benchmark`: of copies of `broken` (after["epochs"], broken by `_break`;
    this entry is `(broken, torn, bare)`: the project, and the names `_break` picked)."""
    root = tmp_path_factory.mktemp("reported")
    broken = _copy(after["epochs"][0], root / "broken")
    torn, bare = _break(broken)
    projects = {
        "failed": after["diverged"][0],
        "reporting": _copy(broken, root / "reporting"),
        "benchmark": _copy(broken, root / "benchmark"),
    }
    commands = {
        "failed": ("run", "--pipeline=reporting"),
        "reporting": ("run", "--pipeline=reporting"),
        "benchmark": ("run", "--pipeline=benchmark"),
    }
    done = _together(*((projects[k], *args) for k, args in commands.items()))
    out: dict[str, tuple] = {k: (projects[k], d) for k, d in zip(commands, done, strict=True)}
    return {**out, "broken": (broken, torn, bare)}


COLLAPSED = (
    "run",
    "--pipeline=train_fixed",
    "--namespaces=layerwise-low_to_high_s0,layerwise-high_to_low_s1,fixed_50_s0",
    "--params=model.hidden_sizes=[32]",  # one activation layer
)


@pytest.fixture(scope="module")
def stopped(template, tmp_path_factory) -> dict[str, tuple[Path, Done, dict]]:
    """Commands that must stop before anything runs, run at the same time. `stale`: training
    on a model input that data_prep made with data.split_seed=7 (in-process: saves ~8 s);
    `typo` and `stray`: unknown keys in --params; and `collapsed`, which must not stop:
    layer-wise runs on a one-layer model (`COLLAPSED`). Each: (project, result, the
    project's data/ before the command)."""
    root = tmp_path_factory.mktemp("stopped")
    stale, keys = _copy(template, root / "stale"), _copy(template, root / "keys")
    collapsed = _copy(template, root / "collapsed")
    with _session(stale, data={"split_seed": 7}) as session:
        session.run(pipeline_names=["data_prep"])
    before = {p: _snapshot(p / "data") for p in (stale, keys, collapsed)}
    jobs = {
        "stale": (stale, "run", "--pipeline=train_fixed", "--namespaces=fixed_50_s0"),
        "typo": (keys, "run", "--params=trainng.epochs=1"),
        "stray": (keys, "run", "--params=ratio=1.5"),
        "collapsed": (collapsed, *COLLAPSED),
    }
    done = _together(*jobs.values())
    return {k: (jobs[k][0], d, before[jobs[k][0]]) for k, d in zip(jobs, done, strict=True)}


# --- 1. kill -9 and resume ------------------------------------------------------------------
EPOCHS = 16
RESUME = ("run", "--namespaces=fixed_50_s0", f"--params=training.epochs={EPOCHS}")


def test_killed_run_resumes_to_the_bytes_of_an_uninterrupted_run(template, tmp_path):
    killed, straight = _copy(template, tmp_path / "killed"), _copy(template, tmp_path / "straight")
    for project in (killed, straight):  # ~0.2 s per epoch
        local = project / "conf" / "local" / "parameters.yml"
        local.write_text(local.read_text().replace("[32, 32, 32]", "[512, 512, 512]"))
    partial = killed / "data" / "07_model_output" / "partial"
    reference = Kedro(straight, *RESUME)
    run, found = Kedro(killed, *RESUME), []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and run.proc.poll() is None:
            found = list(partial.glob("*/checkpoint.pt"))
            if found and len(torch.load(found[0], weights_only=True)["loop"]["history"]) >= 3:
                break
            time.sleep(0.02)
    finally:
        run.kill()
    done = run.wait()
    assert done.rc == -signal.SIGKILL, done  # killed mid-run, not finished on its own
    (checkpoint,) = found
    name = checkpoint.parent.name
    assert _names(killed) == set()  # no record, not even half of one
    assert not (checkpoint.parent / "record").exists()
    state = torch.load(checkpoint, weights_only=True)
    records = len(state["prior"]) + len(state["loop"]["history"])
    assert state["phase"] == "train" and 3 <= records < EPOCHS

    resumed = _kedro(killed, *RESUME)
    assert resumed.rc == 0, resumed
    assert f"{name}: resumed from its checkpoint after {records} records (train)" in (
        resumed.messages
    )
    assert SUMMARY.format(1, 1, 0, 0) in resumed.messages
    assert not (partial / name).exists()
    ref = reference.wait()
    assert ref.rc == 0, ref
    assert _names(killed) == _names(straight) == {name}
    a, b = _runs(killed) / name, _runs(straight) / name
    history = (a / "history.json").read_bytes()
    assert history == (b / "history.json").read_bytes()
    assert json.loads(history) == json.loads((b / "history.json").read_text())
    assert [r["epoch"] for r in json.loads(history)] == list(range(1, EPOCHS + 1))
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert _meta(killed, name)["fingerprint"] == _meta(straight, name)["fingerprint"]


# --- 2. a second run of the unchanged sweep skips ----------------------------------------
def test_second_run_of_the_unchanged_sweep_skips(trained, after):
    first_project, first = trained
    assert SUMMARY.format(2, 2, 0, 0) in first.messages
    names = sorted(_names(first_project))
    assert [n.rsplit("_c", 1)[0] for n in names] == [
        "digits_mlp_fixed_0_s0",
        "digits_mlp_fixed_50_s0",
    ]
    settings = _meta(first_project, names[0])["settings"]
    assert settings["model"] == {  # conf/local's hidden sizes, conf/base's other keys
        "name": "mlp",
        "hidden_sizes": [32, 32, 32],
        "activation": "relu",
        "dropout": 0.0,
        "target": "all",
    }
    assert settings["training"]["epochs"] == 1 and settings["training"]["batch_size"] == 64

    project, again = after["again"]
    store = "data/07_model_output"
    assert again.rc == 0, again
    assert SUMMARY.format(2, 0, 2, 0) in again.messages
    for name in names:
        assert SKIPPED.format(name) in again.messages
    # meta.json and every other file: the same bytes and mtimes as before (copies keep them);
    # sweep/ holds this command's hand-over to later nodes (the keys' run names), rewritten
    for part in ("runs", "partial", "superseded"):
        assert _snapshot(project / store / part) == _snapshot(first_project / store / part)


# --- 3. other settings, other data: never overwritten -------------------------------------
def test_settings_change_never_overwrites(trained, after):
    old = sorted(_names(trained[0]))
    old_files = {n: _snapshot(_runs(trained[0]) / n) for n in old}

    project, done = after["epochs"]
    assert done.rc == 0, done
    assert SUMMARY.format(2, 2, 0, 0) in done.messages
    new = sorted(_names(project) - set(old))
    assert [n.rsplit("_c", 1)[0] for n in new] == [n.rsplit("_c", 1)[0] for n in old]
    assert {_meta(project, n)["settings"]["training"]["epochs"] for n in new} == {2}
    for name in old:
        assert _snapshot(_runs(project) / name) == old_files[name]
    assert not (project / "data" / "07_model_output" / "superseded").exists()

    # same settings (so the same names), other data: the stored records move aside, whole
    project, done = after["data"]
    assert done.rc == 0, done
    assert SUMMARY.format(2, 2, 0, 0) in done.messages
    assert sorted(_names(project)) == old
    superseded = project.resolve() / "data" / "07_model_output" / "superseded"
    for name in old:
        was, now = _meta(trained[0], name)["fingerprint"], _meta(project, name)["fingerprint"]
        assert was != now
        kept = superseded / f"{name}@{was[:12]}"
        assert (
            f"{name}: the stored record has another fingerprint ({was[:12]}, this run "
            f"{now[:12]}: other model input or project version); kept it in "
            f"data/07_model_output/superseded/{name}@{was[:12]}"
        ) in done.messages
        assert _snapshot(kept) == old_files[name]
    assert sorted(p.name for p in superseded.iterdir()) == sorted(
        f"{n}@{_meta(trained[0], n)['fingerprint'][:12]}" for n in old
    )


# --- 4. a non-finite loss ends the run as failed, in strict JSON --------------------------
def test_non_finite_loss_fails_the_run(trained, after, reported):
    # kedro run --namespaces=fixed_50_s0 --params=training.lr=1e30
    project, done = after["diverged"]
    old = _names(trained[0])
    assert done.rc == 2, done
    (name,) = _names(project) - old
    assert name.startswith("digits_mlp_fixed_50_s0_c")
    folder = _runs(project) / name
    meta = _strict_json((folder / "meta.json").read_text())
    history = _strict_json((folder / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1] and history[0]["train_loss"] is None  # was nan
    _strict_json((folder / "timing.json").read_text())
    assert meta["status"] == "failed"
    assert meta["error"] == f"{name}: non-finite training loss (nan) at train epoch 1"
    assert done.last_error_line == (
        f"Error: 1 of 1 runs failed: {name} (non-finite training loss (nan) at train epoch 1)"
    )
    assert meta["error"] in done.messages
    assert SUMMARY.format(1, 0, 0, 1) in done.messages
    assert not (folder / "model.safetensors").exists()
    assert not (project / "data" / "07_model_output" / "partial" / name).exists()
    for n in old:  # the complete records of the same keys: untouched
        assert _snapshot(_runs(project) / n) == _snapshot(_runs(trained[0]) / n)

    _, report = reported["failed"]  # kedro run --pipeline=reporting
    assert report.rc == 0, report
    text = (project / "data" / "08_reporting" / "report.md").read_text()
    assert (
        "1 runs failed and are not results (nor in any figure or table):\n"
        f"- `{name}`: {meta['error']}\n"
    ) in text
    summary = pd.read_csv(project / "data" / "08_reporting" / "analysis_summary.csv")
    assert sorted(summary.run) == sorted(old)


# --- 5. a model input made with other data settings ------------------------------------------
def test_stale_model_input_stops_before_training(stopped):
    project, done, before = stopped["stale"]
    assert done.rc == 2, done
    assert done.stderr.strip() == (
        "Error: model_input of digits was made with data.split_seed=7, and this run asks for "
        "0: run data_prep again with the same --params (kedro run --pipelines=data_prep)"
    )
    assert _snapshot(project / "data") == before  # no run folder, nothing else written


# --- 6. a torn meta.json and a missing history.json ----------------------------------------
def test_corrupt_and_missing_files_are_left_out_untouched(reported):
    broken, torn, bare = reported["broken"]  # torn: meta.json cut short; bare: no history.json
    with pytest.raises(ValueError):
        _meta(broken, torn)
    assert not (_runs(broken) / bare / "history.json").exists()
    rest = sorted(_names(broken) - {torn, bare})
    assert len(rest) == 2
    torn_bytes = _snapshot(_runs(broken) / torn)
    reporting, report = reported["reporting"]
    benchmark, bench = reported["benchmark"]

    assert report.rc == 0, report
    assert f"skipping run {torn}: {torn}/meta.json is missing or unreadable" in report.messages
    assert f"skipping run {bare}: {bare}/history.json is missing or unreadable" in report.messages
    summary = pd.read_csv(reporting / "data" / "08_reporting" / "analysis_summary.csv")
    assert sorted(summary.run) == rest
    assert _snapshot(_runs(reporting) / torn) == torn_bytes

    assert bench.rc == 0, bench
    assert f"{torn} left out: its meta.json is not valid JSON of a run" in bench.messages
    table = pd.read_csv(benchmark / "data" / "08_reporting" / "benchmark.csv")
    assert torn not in set(table.run) and set(rest) <= set(table.run)
    assert _snapshot(_runs(benchmark) / torn) == torn_bytes


# --- 7. unknown keys ---------------------------------------------------------------------------
def test_unknown_keys_stop_with_one_line(stopped):
    project, typo, before = stopped["typo"]
    _, stray, _ = stopped["stray"]  # in the same project, at the same time
    assert (typo.rc, stray.rc) == (2, 2), (typo, stray)
    assert typo.stderr.strip() == (
        f"Error: trainng is not a setting; did you mean 'training'? valid: {TOP_LEVEL}"
    )
    assert stray.stderr.strip() == f"Error: ratio is not a setting; valid: {TOP_LEVEL}"
    assert _snapshot(project / "data") == before  # nothing under data/ written


# --- 8. layer-wise schedules that are fixed runs on this model ---------------------------------
def test_schedules_that_collapse_are_refused_in_one_line_and_the_rest_runs(stopped):
    project, done, before = stopped["collapsed"]
    assert done.rc == 0, done
    warning = (
        "layerwise low_to_high, high_to_low: digits · mlp has 1 activation layer, so each is "
        "fixed 50 % (the same masks): not trained"
    )
    assert done.messages.count(warning) == 1
    assert not [m for m in done.messages if m.startswith("layerwise") and m != warning]
    assert (
        SUMMARY.format(3, 1, 0, 0) + ", 2 not trained (layer-wise runs that are fixed runs on "
        "this model)"
    ) in done.messages
    (name,) = _names(project)  # the fixed run only; nothing of the layer-wise ones
    assert name.startswith("digits_mlp_fixed_50_s0_c")
    assert _meta(project, name)["settings"]["model"]["hidden_sizes"] == [32]
    written = set(_snapshot(project / "data")) - set(before)
    handed = "07_model_output/sweep/digits/{}.run_name.txt"
    keys = ["fixed_50_s0", "layerwise-low_to_high_s0", "layerwise-high_to_low_s1"]
    assert written - {handed.format(k) for k in keys} == {
        f for f in written if f.startswith(f"07_model_output/runs/{name}/")
    }, written
    for key in keys:  # the layer-wise keys name no run
        text = (project / "data" / handed.format(key)).read_text()
        assert text == ("" if key.startswith("layerwise") else name), key
