"""Mixed and gated activations, and the swap that puts them into any model."""

from .apply import (
    ACTIVATIONS,
    APPROACHES,
    ActivationSite,
    Approach,
    apply_approach,
    create_act,
    find_activation_sites,
    gated_layers,
    layer_stats,
    masked_layers,
)
from .gated import GatedActivation
from .mixed import PATTERNS, MaskedActivation, MixedActivation, linear_count, linear_mask
from .stats import gate_stats

__all__ = [
    "ACTIVATIONS",
    "APPROACHES",
    "PATTERNS",
    "ActivationSite",
    "Approach",
    "GatedActivation",
    "MaskedActivation",
    "MixedActivation",
    "apply_approach",
    "create_act",
    "find_activation_sites",
    "gate_stats",
    "gated_layers",
    "layer_stats",
    "linear_count",
    "linear_mask",
    "masked_layers",
]
