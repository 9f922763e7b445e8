"""Nodes of reporting."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ... import reporting
from ...params import ReportingConfig, parse
from ...reporting.neurons import store_reader
from ...run.store import RunStore

log = logging.getLogger(__name__)


def collect(runs: dict[str, Callable], store: RunStore, *after: Any) -> dict[str, dict]:
    """The files of every run the store has published (a gated run's with its per-neuron
    table); `after` only orders this node after the training nodes."""
    records = reporting.collect_runs(runs, set(store.names()), store_reader(store))
    log.info("reporting on %d runs", len(records))
    return records


def summarise(records: dict[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(summary as parquet for the nodes, the same as CSV, the per-layer table)."""
    summary = reporting.summary_table(records)
    return summary, summary, reporting.layer_rows(records)


def plot(summary: pd.DataFrame, records: dict[str, dict], *, name: str) -> Figure:
    return reporting.FIGURES[name](summary, records)


def tables(findings: dict[str, Any], summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(efficiency ranking, cross-domain table), from the findings' latency and drops."""
    latency, drops = pd.DataFrame(findings["latency"]), pd.DataFrame(findings["drops"])
    return (
        reporting.efficiency_ranking(latency, summary),
        reporting.cross_architecture(summary, drops),
    )


def find(
    summary: pd.DataFrame, layers: pd.DataFrame, records: dict[str, dict], params: dict[str, Any]
) -> dict[str, Any]:
    return reporting.findings(summary, layers, records, parse(ReportingConfig, params, "reporting"))


def report(
    findings: dict[str, Any],
    summary: pd.DataFrame,
    cross: pd.DataFrame,
    ranking: pd.DataFrame,
    layers: pd.DataFrame,
) -> str:
    text = reporting.build_report(findings, summary, cross, ranking, layers)
    log.info("report: data/08_reporting/report.md")
    return text
