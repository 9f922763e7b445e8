"""All runs -> summary table, figures, tables, findings and report.md (guide §6, §7, §12, §13, §19).

`collect` reads the runs, `stats` holds the intervals and verdicts, `compare` pairs runs
with their same-seed all-ReLU run, `findings` turns them into claims, `tables`, `figures`
and `report` show them.
"""

from .collect import collect_runs, failed_runs, layer_rows, summary_table
from .figures import FIGURES
from .findings import findings
from .report import build_report
from .tables import cross_architecture, efficiency_ranking

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
