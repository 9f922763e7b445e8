"""`kedro run` with input Kedro itself rejects: one line, exit 2, nothing written.

Each case runs the CLI in a subprocess in a scratch copy of the project (as in
tests/test_run.py), so what is checked is what a user sees.
"""

import click
import pytest
from kedro.framework.startup import bootstrap_project

from nonlinearity.cli import colon_params, conf_parameters, fit_params, fit_to_lists
from nonlinearity.errors import ConfigError
from tests.conftest import DEFAULT_RUNS, scratch_project
from tests.test_run import _files, _kedro

PIPELINES = (
    "__default__, activation_analysis, benchmark, data_prep, pruning, reporting, robustness, "
    "sweep, train_fixed, train_gated"
)
RUNS = ", ".join(sorted([*DEFAULT_RUNS, "analysis", "pruning", "robustness"]))
GATED = ", ".join(sorted(r for r in DEFAULT_RUNS if r.startswith(("gated-", "matched-"))))


@pytest.fixture
def project(tmp_path):
    return scratch_project(tmp_path)


def _one_line_error(project, *args: str) -> str:
    """The Error line of a `kedro run` that must stop before any node, writing nothing."""
    out = _kedro(project, "run", *args)
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Traceback" not in out.stdout + out.stderr
    assert _files(project) == []
    return out.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--pipeline=nosuch"], f"pipeline 'nosuch' is not in the registry; valid: {PIPELINES}"),
        (
            ["--pipelines=data_prep,train_fixd"],
            "pipeline 'train_fixd' is not in the registry (did you mean 'train_fixed'?); "
            f"valid: {PIPELINES}",
        ),
        (
            ["--namespaces=fixed_0"],
            "namespace 'fixed_0' is not in pipeline '__default__' (did you mean 'fixed_0_s2'?); "
            f"valid: {RUNS}",
        ),
        (
            ["--pipelines=train_gated", "--namespaces=nosuch"],
            f"namespace 'nosuch' is not in pipeline 'train_gated'; valid: {GATED}",
        ),
    ],
    ids=["pipeline", "pipelines", "namespaces", "namespaces-of-pipeline"],
)
def test_unknown_pipeline_or_namespace(project, args, line):
    assert _one_line_error(project, *args) == f"Error: {line}"


def test_yaml_error_names_file_and_line(project):
    (project / "conf" / "local" / "parameters.yml").write_text("training:\n  lr: [0.1\n  x: 1\n")
    assert _one_line_error(project, "--pipelines=data_prep") == (
        "Error: invalid YAML in conf/local/parameters.yml, line 3, column 4: "
        "expected ',' or ']', but got ':' (while parsing a flow sequence at line 2, column 7)"
    )


def test_params_index_past_a_list_schedule(project):
    """The README's example: conf's schedule is a list, so `.5` is not an entry of it."""
    assert _one_line_error(
        project, "--params=train_fixed.layerwise.schedules.low_to_high.5=0.3"
    ) == (
        "Error: --params train_fixed.layerwise.schedules.low_to_high.5: low_to_high is the list "
        "[0.2, 0.8] in conf; give an index 0..1, or the whole list (low_to_high=[...])"
    )


def test_params_reach_into_lists():
    ctx = click.Context(click.Command("run"))
    param = click.Option(["--params"])
    parsed = colon_params(ctx, param, "s.a=[0.1,0.9],s.b={0: 0.2, 2: 0.8},dataset:mnist")
    assert parsed == {"s": {"a": [0.1, 0.9], "b": {0: 0.2, 2: 0.8}}, "dataset": "mnist"}
    assert colon_params(ctx, param, "name=a[b,c=1") == {"name": "a[b", "c": 1}  # Kedro's split
    # YAML reads a leading `*` as an alias and fails; the value is then its text
    glob = "*_fixed_0_s0_*|*gated-base*"
    assert colon_params(ctx, param, f"select={glob},lr=1") == {"select": glob, "lr": 1}
    assert colon_params(ctx, param, f'select="{glob}"') == {"select": glob}

    conf = {"s": {"a": [0.2, 0.8], "m": {0: 0.2}, "rows": [{"x": 1, "y": 2}]}, "lr": 0.1}
    override = colon_params(ctx, param, "s.a.1=0.9,s.m.2=0.5,s.rows.0.y=3,lr=1")
    assert fit_to_lists(override, conf) == {
        "s": {"a": [0.2, 0.9], "m": {"2": 0.5}, "rows": [{"x": 1, "y": 3}]},
        "lr": 1,
    }
    for bad in ("s.a.2=0.5", "s.a.-1=0.5", "s.a.first=0.5"):
        with pytest.raises(ConfigError, match=r"^--params s\.a\..*: a is the list \[0.2, 0.8\]"):
            fit_to_lists(colon_params(ctx, param, bad), conf)


def test_params_index_the_list_of_the_chosen_setup(project, monkeypatch):
    """`dataset=...` picks a setup, and the index applies to that setup's list."""
    monkeypatch.chdir(project)
    bootstrap_project(project)
    sizes = conf_parameters(None, None, {"dataset": "breast_cancer"})["model"]["hidden_sizes"]
    assert sizes != conf_parameters(None, None)["model"]["hidden_sizes"]  # not digits' list
    params = {"dataset": "breast_cancer", "model": {"hidden_sizes": {"0": 7}}}
    fitted = fit_params(params, None, None)
    assert fitted == {"dataset": "breast_cancer", "model": {"hidden_sizes": [7, *sizes[1:]]}}
