"""Post-training linearisation, dead-unit removal and exact folding (guide Approach 3)."""

from .fold import FoldedMLP, fold_mlp, fold_model, linear_macs
from .prune import PruneConfig, apply_decisions, decide, linear_neighbours
from .pruned import fold_check, prune_and_fold, prune_run, pruned_identity

__all__ = [
    "FoldedMLP",
    "PruneConfig",
    "apply_decisions",
    "decide",
    "fold_check",
    "fold_mlp",
    "fold_model",
    "linear_macs",
    "linear_neighbours",
    "prune_and_fold",
    "prune_run",
    "pruned_identity",
]
