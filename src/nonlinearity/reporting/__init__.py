"""All runs -> summary table, figures, tables, findings and report.md (guide §6, §7, §12, §13)."""

from .collect import collect_runs, failed_runs, layer_rows, summary_table
from .figures import FIGURES
from .report import build_report
from .tables import cross_architecture, efficiency_ranking, findings

__all__ = [
    "FIGURES",
    "build_report",
    "collect_runs",
    "failed_runs",
    "cross_architecture",
    "efficiency_ranking",
    "findings",
    "layer_rows",
    "summary_table",
]
