"""Project CLI: Kedro's own `run`, with these changes.

* `--params` also takes the brief's colon form, `dataset:mnist`, as `dataset=mnist`, and
  a comma inside `[...]` or `{...}` does not split items: `a.b=[0.2,0.8]` is one list.
* A dotted `--params` key that reaches into a list in conf sets one element of it:
  `train_fixed.layerwise.schedules.low_to_high.1=0.9` on `[0.2, 0.8]` gives `[0.2, 0.9]`
  (Kedro would merge a mapping into the list and fail).
* A `NonlinearityError` (bad parameter, missing data) ends the run with its one line on
  stderr and exit code 2, instead of a traceback. So do three errors Kedro raises before
  any node runs: an unknown pipeline, an unknown namespace, a conf file that is not YAML.

`kedro plan` (at the end) lists the runs a `kedro run` with the same options would train,
with their status and estimated cost (`run/plan.py`); it trains and writes nothing.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import click
import yaml
from kedro.config import MissingConfigException
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import pipelines, settings
from kedro.utils import find_kedro_project
from omegaconf import OmegaConf
from omegaconf.errors import ConfigTypeError

from .errors import ConfigError, NonlinearityError, one_line


def _split_items(value: str) -> list[str]:
    """Split on commas outside brackets; with unbalanced brackets, on every comma (Kedro's)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(value):
        depth += (ch in "[{") - (ch in "]}")
        if depth < 0:
            break
        if ch == "," and depth == 0:
            items.append(value[start:i])
            start = i + 1
    if depth != 0:
        items, start = value.split(","), len(value)
    items.append(value[start:])
    return [i.strip() for i in items if i.strip()]


def colon_params(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """`key=value` or `key:value` items, comma-separated, as the nested dict Kedro builds."""
    if isinstance(value, dict):
        return value
    dot_list = []
    for item in _split_items(value or ""):
        key, eq, val = item.partition("=")
        if not eq:
            key, eq, val = item.partition(":")
        if not eq:
            ctx.fail(
                f"Invalid format of `{param.name}` option: Item `{item}` must contain a key "
                "and a value separated by `=`."
            )
        if not key.strip():
            ctx.fail(f"Invalid format of `{param.name}` option: Parameter key cannot be empty.")
        dot_list.append(f"{key.strip()}={_yaml_or_text(val)}")
    return OmegaConf.to_container(OmegaConf.from_dotlist(dot_list))


def _yaml_or_text(value: str) -> str:
    """A value as YAML reads it, or, when YAML cannot (`*_fixed_0_*` starts like an alias),
    as the text it is: a glob for `select` or `pruning.sources` needs no quotes."""
    try:
        yaml.safe_load(value)
    except yaml.YAMLError:
        return json.dumps(value)  # a double-quoted YAML string
    return value


def _list_index(key: Any, items: list, where: str) -> int:
    if str(key).isdecimal() and int(key) < len(items):
        return int(key)
    name = where.rsplit(".", 1)[-1]
    indices = f"give an index 0..{len(items) - 1}, or" if items else "give"
    raise ConfigError(
        f"--params {where}.{key}: {name} is the list {items} in conf; "
        f"{indices} the whole list ({name}=[...])"
    )


def fit_to_lists(override: Any, conf: Any, where: str = "", whole: bool = False) -> Any:
    """`override` with each mapping that meets a list in `conf` turned into that list, edited.

    Kedro merges `--params` onto conf and a list replaces a list whole, so an edited
    element carries the rest of its list (and, inside a list, the rest of its mapping).
    """
    if isinstance(override, Mapping) and isinstance(conf, list):
        items = copy.deepcopy(conf)
        for key, value in override.items():
            i = _list_index(key, items, where)
            items[i] = fit_to_lists(value, items[i], f"{where}.{key}", whole=True)
        return items
    if isinstance(override, Mapping) and isinstance(conf, Mapping):
        fitted = {
            k: fit_to_lists(v, conf.get(k), f"{where}.{k}" if where else str(k), whole)
            for k, v in override.items()
        }
        return {**copy.deepcopy(dict(conf)), **fitted} if whole else fitted
    return override


def _conf_root(conf_source: str | None) -> Path:
    project = find_kedro_project(Path.cwd()) or Path.cwd()
    return Path(conf_source or project / settings.CONF_SOURCE)


def conf_parameters(
    env: str | None, conf_source: str | None, runtime_params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The parameters as the session loads them."""
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(_conf_root(conf_source)),
        env=env or os.getenv("KEDRO_ENV"),
        runtime_params=runtime_params,
        **settings.CONFIG_LOADER_ARGS,
    )
    return loader["parameters"]


def _without_indices(override: Any) -> Any:
    """`override` less every entry under a key that could index a list (`0`, `1`, ...)."""
    if not isinstance(override, Mapping):
        return override
    kept = {k: _without_indices(v) for k, v in override.items() if not str(k).isdecimal()}
    return {k: v for k, v in kept.items() if v != {}}


def fit_params(params: dict[str, Any], env: str | None, conf_source: str | None) -> Any:
    """`--params` fitted to the lists in conf, as this run will see conf.

    The lists are looked up with the other `--params` applied, since those can pick what
    conf holds (`dataset=cifar10` picks a setup, with `model.head_hidden` in it).
    """
    try:
        conf = conf_parameters(env, conf_source, _without_indices(params))
    except ConfigTypeError:  # a name, not an index, below a list: say so against plain conf
        conf = conf_parameters(env, conf_source)
    except MissingConfigException:  # no parameter files: Kedro runs with none
        return params
    return fit_to_lists(params, conf)


def _in_chain(exc: BaseException | None, match: Any) -> Any:
    """The first exception in `exc`'s cause/context chain for which `match` is true."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if match(exc):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"  # yaml marks count from 0


def yaml_error(exc: BaseException, conf_source: str | None) -> ConfigError | None:
    """A conf file's YAML error as one line: the file, where, and the parser's problem.

    OmegaConfigLoader re-raises the parser's error without a position and reads files
    as streams, so the mark names no file: the file is the one that fails the same way
    (and when no conf file does, the error is not about conf, and is left alone).
    """
    err = _in_chain(
        exc, lambda e: isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None
    )
    if err is None:
        return None
    where = None
    root = _conf_root(conf_source)
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        if path.suffix not in {".yml", ".yaml", ".json"} or not path.is_file():
            continue
        try:
            OmegaConf.load(path)
        except yaml.MarkedYAMLError as other:
            if (other.problem, _at(other.problem_mark)) == (err.problem, _at(err.problem_mark)):
                where = os.path.relpath(path)
                break
        except Exception:  # another problem: not this file's YAML error
            continue
    if where is None:
        return None
    context = f" ({err.context} at {_at(err.context_mark)})" if err.context_mark else ""
    return ConfigError(f"invalid YAML in {where}, {_at(err.problem_mark)}: {err.problem}{context}")


def _unknown(kind: str, names: Iterable[str], valid: list[str], where: str = "") -> ConfigError:
    name = next(iter(names))
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    where = where or "the registry"
    return ConfigError(f"{kind} {name!r} is not in {where}{hint}; valid: {', '.join(valid)}")


def _registry() -> dict[str, Any] | None:
    pipelines.set_requested(None)  # all of them, for the list of valid names
    try:
        return dict(pipelines.items())
    except Exception:  # the registry itself is broken: Kedro's error says more
        return None


def pipeline_error(exc: BaseException, names: list[str], namespaces: list[str]) -> Any:
    """An unknown pipeline or namespace as one line, when that is what `exc` is about.

    Kedro reports a pipeline name it cannot find as an ImportError (from
    `find_pipelines`) or a ValueError (from `session.run`), and a namespace with no
    nodes as a ValueError from `Pipeline.filter`: the names are checked here anew.
    """
    if not isinstance(exc, (ImportError, KeyError, ValueError)):
        return None
    registry = _registry()
    if registry is None:
        return None
    if unknown := [n for n in names if n not in registry]:
        return _unknown("pipeline", unknown, sorted(registry))
    chosen = names or ["__default__"]
    nodes = [n for name in chosen for n in registry[name].nodes]
    valid = sorted({n.namespace for n in nodes if n.namespace})
    unknown = [s for s in namespaces if not any(v == s or v.startswith(f"{s}.") for v in valid)]
    where = f"pipeline {'+'.join(chosen)!r}"
    if unknown and not valid:
        return ConfigError(f"{where} has no namespaces; run it without --namespaces")
    return _unknown("namespace", unknown, valid, where) if unknown else None


def _explain(exc: BaseException, kwargs: dict[str, Any]) -> NonlinearityError | None:
    names = [kwargs["pipeline"]] if kwargs.get("pipeline") else list(kwargs.get("pipelines") or [])
    return (
        one_line(exc)
        or yaml_error(exc, kwargs.get("conf_source"))
        or pipeline_error(exc, names, list(kwargs.get("namespaces") or []))
    )


# `--runner` names: Kedro's, with the project's ParallelRunner (a CPU thread budget per
# worker) in place of Kedro's, and the Dask runner (`nonlinearity.runner`).
RUNNERS = {
    "SequentialRunner": "kedro.runner.SequentialRunner",
    "ThreadRunner": "kedro.runner.ThreadRunner",
    "ParallelRunner": "nonlinearity.runner.ParallelRunner",
    "DaskRunner": "nonlinearity.runner.DaskRunner",
}


def runner_path(name: str | None) -> str | None:
    """The class a `--runner` name stands for; a dotted path is taken as it is."""
    if not name or "." in name:
        return name
    if name not in RUNNERS:
        close = difflib.get_close_matches(name, list(RUNNERS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"--runner {name!r} is unknown{hint}; valid: {', '.join(RUNNERS)}, "
            "or a runner's class path (my_package.MyRunner)"
        )
    return RUNNERS[name]


def check_runner_params(path: str | None, given: Mapping[str, Any]) -> None:
    """`--runner-params` keys the runner takes, or one line naming those it does."""
    import inspect

    from kedro.utils import load_obj

    runner = load_obj(path or "SequentialRunner", "kedro.runner")
    valid = [p for p in inspect.signature(runner).parameters if p not in ("self", "kwargs")]
    if unknown := sorted(set(given) - set(valid)):
        raise ConfigError(
            f"--runner-params {unknown[0]} is not a parameter of {runner.__name__}; "
            f"valid: {', '.join(valid)}"
        )


def _exit_with_one_line(exc: Exception, kwargs: dict[str, Any]) -> None:
    """An error the project can say in one line: that line on stderr, exit 2 (after any
    local Dask cluster a stopped run had started is closed, so the line stays last).
    Anything else is raised on, with its traceback."""
    if runner := sys.modules.get("nonlinearity.runner"):
        runner.close_unused_workers()
    err = _explain(exc, kwargs)
    if err is None:
        raise exc
    click.secho(f"Error: {err}", err=True, fg="red")
    raise SystemExit(2) from None


def _run(**kwargs: Any) -> Any:
    try:
        kwargs["runner"] = runner_path(kwargs.get("runner"))
        check_runner_params(kwargs["runner"], kwargs.get("runner_params") or {})
        if kwargs.get("params"):
            kwargs["params"] = fit_params(
                kwargs["params"], kwargs.get("env"), kwargs.get("conf_source")
            )
        return kedro_run.callback(**kwargs)
    except Exception as exc:
        _exit_with_one_line(exc, kwargs)


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


# --- kedro plan ---------------------------------------------------------------------------
def _kedro_option(name: str) -> click.Parameter:
    """A copy of one of `kedro run`'s options (same flags, help and parsing)."""
    (option,) = [copy.copy(p) for p in kedro_run.params if p.name == name]
    if name == "params":
        option.callback = colon_params
    return option


def _chosen(pipeline: str, namespaces: list[str]) -> tuple[Any, list[str]]:
    """The pipeline as `kedro run` would run it, and the runs it trains (the namespaces of
    its `<key>.train` nodes)."""
    registry = _registry() or {}
    if pipeline not in registry:
        raise KeyError(pipeline)  # `_explain` names the valid ones
    chosen = registry[pipeline]
    if namespaces:
        chosen = chosen.filter(node_namespaces=namespaces)
    keys = [n.namespace for n in chosen.nodes if n.namespace and n.name == f"{n.namespace}.train"]
    return chosen, keys


def _model_input(catalog: Any, params: dict[str, Any]) -> tuple[str | None, str]:
    """(fingerprint of the prepared model input, or None; the line that says which)."""
    from .data.prepare import check_model_input, data_fingerprint
    from .run.plan import NO_INPUT
    from .run.store import RunStore

    if not catalog.exists("model_input"):
        return None, NO_INPUT
    dataset = catalog.get("model_input")
    made = dataset.describe() if hasattr(dataset, "describe") else dataset.load()
    try:
        check_model_input(made, params.get("model") or {}, params.get("data") or {})
    except ConfigError as exc:
        return None, f"model input not usable ({exc}): names from settings only"
    if "fingerprint" not in made.info:
        made = dataset.load()
    fp = data_fingerprint(made)
    where = RunStore.shown(str(getattr(dataset, "_path", "model_input")))
    return fp, f"model input: {where} (fingerprint {fp[:12]})"


def _plan(
    pipeline: str | None,
    env: str | None,
    namespaces: list[str] | None,
    params: dict[str, Any] | None,
    workers: int,
    output: str,
) -> None:
    import json
    from contextlib import redirect_stdout

    from kedro.framework.session import KedroSession

    from .hooks import ValidateParamsHook
    from .run import plan as planning
    from .run.spec import sweep_specs
    from .run.validate import collapsed_runs

    name, namespaces = pipeline or "__default__", list(namespaces or [])
    kwargs = {"pipeline": name, "namespaces": namespaces, "env": env, "params": params}
    try:
        with redirect_stdout(sys.stderr):  # Kedro's log goes to stdout; the plan goes there
            if params:
                params = fit_params(params, env, None)
            project = find_kedro_project(Path.cwd()) or Path.cwd()
            with KedroSession.create(project, env=env, runtime_params=params or None) as session:
                context = session.load_context()
                catalog = context.catalog
                conf = catalog.load("parameters")
                chosen, keys = _chosen(name, namespaces)
                # what `kedro run` checks before its first node, so the same input fails
                ValidateParamsHook().before_pipeline_run({}, chosen, catalog)
                store = catalog.load("run_store")
                specs = planning.check_specs(sweep_specs(conf), keys)
                fp, input_line = _model_input(catalog, conf)
                layerwise = any(s.approach == "layerwise" for s in specs)
                collapsed = collapsed_runs(conf).runs if layerwise else {}
                runs = planning.planned_runs(specs, conf, store, fp, collapsed)
                plan = planning.make_plan(runs, store, bool(conf.get("rerun")), input_line)
    except Exception as exc:
        _exit_with_one_line(exc, kwargs)
    if output == "json":
        # one line, the last: Kedro logs its logging config to stdout before any command
        click.echo(json.dumps(planning.as_json(plan, name, workers), allow_nan=False))
        return
    title = f"plan of pipeline {name!r}: {len(runs)} runs of {conf['dataset']} · " + (
        f"{(conf.get('model') or {}).get('name', 'mlp')}"
    )
    click.echo(planning.render(plan, title, workers))


plan = click.Command(
    "plan",
    callback=_plan,
    params=[
        _kedro_option("pipeline"),
        _kedro_option("env"),
        _kedro_option("namespaces"),
        _kedro_option("params"),
        click.Option(
            ["--workers", "-w"],
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Workers the runs would spread over (the estimate divides by them).",
        ),
        click.Option(
            ["--format", "output"],
            type=click.Choice(["table", "json"]),
            default="table",
            show_default=True,
            help="A table, or the rows as JSON for scripts.",
        ),
    ],
    help="List the runs a `kedro run` would train and estimate their cost from the runs "
    "already timed; trains and writes nothing.",
)
cli.add_command(plan, "plan")
