"""Activation statistics of trained models (guide Approach 3, §10)."""

from .analyse import AnalysisConfig, analyse
from .stats import (
    NEURON_COLUMNS,
    Thresholds,
    activation_stats,
    layer_table,
    stats_json,
)

__all__ = [
    "AnalysisConfig",
    "analyse",
    "NEURON_COLUMNS",
    "Thresholds",
    "activation_stats",
    "layer_table",
    "stats_json",
]
