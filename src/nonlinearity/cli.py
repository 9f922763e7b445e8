"""Project CLI: Kedro's own `run`, with two changes.

* `--params` also takes the brief's colon form, `dataset:mnist`, as `dataset=mnist`.
* A `NonlinearityError` (bad parameter, missing data) ends the run with its one
  line on stderr and exit code 2, instead of a traceback.
"""

from __future__ import annotations

import copy
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import _split_params, split_string

from .errors import one_line


def colon_params(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Rewrite `key:value` items (no `=`) to `key=value`, then parse as Kedro does."""
    if isinstance(value, str) and value:
        items = split_string(ctx, param, value)
        value = ",".join(i if "=" in i or ":" not in i else i.replace(":", "=", 1) for i in items)
    return _split_params(ctx, param, value)


def _run(**kwargs: Any) -> Any:
    try:
        return kedro_run.callback(**kwargs)
    except Exception as exc:
        err = one_line(exc)
        if err is None:
            raise
        click.secho(f"Error: {err}", err=True, fg="red")
        raise SystemExit(2) from None


run = copy.copy(kedro_run)
run.callback = _run
run.params = [copy.copy(p) for p in kedro_run.params]
for _p in run.params:
    if _p.name == "params":
        _p.callback = colon_params


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, name=__file__)
def cli() -> None:
    """Command line tools for the nonlinearity project."""


cli.add_command(run, "run")
