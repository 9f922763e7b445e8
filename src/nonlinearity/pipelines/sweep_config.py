"""The sweep as the conf folder defines it, read when pipelines are registered.

Kedro builds pipelines before it reads runtime `--params`, so the list of runs
(one node each) comes from the files in conf/; the values inside a run (a gate
variant's weights, a schedule's ratios, training settings) are node inputs and
follow `--params`. The validation hook rejects `--params` that would change the list.
"""

from __future__ import annotations

from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings

from ..run.spec import RunSpec, sweep_specs


def _conf_source() -> Path:
    for root in (Path.cwd(), *Path(__file__).resolve().parents):
        conf = root / settings.CONF_SOURCE
        if (conf / "base" / "parameters_train_fixed.yml").exists():
            return conf
    raise FileNotFoundError(
        f"no {settings.CONF_SOURCE}/base/parameters_train_fixed.yml above {Path.cwd()}"
    )


def sweep_params() -> dict:
    loader = OmegaConfigLoader(str(_conf_source()), **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"]


def registered_specs() -> list[RunSpec]:
    return sweep_specs(sweep_params())
