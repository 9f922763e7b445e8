"""Nodes of activation_analysis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...analysis import AnalysisConfig, analyse
from ...data import Splits
from ...experiment import RunSpec, run_name
from ...prepare import check_model_input
from ..runs import load_partition


def analyse_run(
    models: dict[str, Callable],
    model_input: Splits,
    dataset: str,
    model_params: dict[str, Any],
    params: dict[str, Any],
    *,
    spec: RunSpec,
) -> tuple[dict, dict]:
    """One trained run -> `{<run>/activation_stats: json}`, `{<run>/activation_<table>: df}`."""
    name = run_name(dataset, model_params.get("name", "mlp"), spec)
    model = load_partition(models, name, "trained model")
    check_model_input(model_input, model_params)
    neurons, layers, stats = analyse(model, model_input, AnalysisConfig.from_params(params), name)
    return (
        {f"{name}/activation_stats": stats},
        {f"{name}/activation_neurons": neurons, f"{name}/activation_layers": layers},
    )
