"""Per-layer summary of alphas, the weight each neuron gives its nonlinearity."""

import torch


def gate_stats(alpha: torch.Tensor) -> dict[str, float]:
    """Summary of one layer's alphas (one device sync)."""
    a = alpha.detach().float()
    s = torch.stack(
        [
            a.mean(),
            torch.quantile(a, 0.5),
            a.min(),
            a.max(),
            (a < 0.1).float().mean(),
            (a < 0.25).float().mean(),
            (a > 0.9).float().mean(),
        ]
    ).tolist()
    keys = (
        "alpha_mean",
        "alpha_median",
        "alpha_min",
        "alpha_max",
        "alpha_lt_0.1",
        "alpha_lt_0.25",
        "alpha_gt_0.9",
    )
    return dict(zip(keys, s, strict=True))
