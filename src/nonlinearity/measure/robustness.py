"""Accuracy under L∞ attacks, FGSM and PGD, in the model's input space before normalisation.

For a classifier f, a batch x with labels y and the cross-entropy loss L, both attacks
search the set B = {x' : |x' − x|_∞ ≤ r} ∩ [lo, hi] (the valid input range, where there
is one), r = ε · scale:

    FGSM  x' = clip(x + r · sign ∇ₓ L(f(x), y))               (Goodfellow et al. 2015)
    PGD   x⁰ = clip(x + u),  u ~ U[−r, r]  (random start; x⁰ = x without)
          xᵗ⁺¹ = Π_B(xᵗ + α · sign ∇ L(f(xᵗ), y)),  t < T steps,  α = step_size · r
                                                                (Madry et al. 2018)

Π_B clamps each coordinate to [x − r, x + r], then to [lo, hi]. Accuracy under attack is
the share of samples whose final x' is still classified y (PGD's last iterate, as
torchattacks and the Adversarial Robustness Toolbox report it); the tests check both
attacks against ART on one model.

Where the attack moves the input (`input_space`), per kind of model input:

- image: pixels on a 0..1 scale, u = x / P, with P the full intensity (the brightest
  pixel of the training split: 16 for `digits`, 255 for 8-bit images). The attacked
  function normalises inside, f(u) = model((P·u − mean) / std), so ε is in pixel units
  (8/255: eight grey levels of 255) and [lo, hi] = [0, 1]; scale 1.
- tabular: the standardised features the model reads; ε in training-split standard
  deviations; no clamp (one-hot columns move too); scale 1.
- text: the word embeddings of the tokens, f(e) = model(inputs_embeds = e); scale = the
  RMS of the word-embedding matrix, so ε is a share of a typical coordinate; no clamp.
  Pad positions are masked out of attention and do not change the logits.
- features (cached outputs of a frozen backbone, no images kept): not applicable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Splits, to_device
from ..data.sources import KINDS, SOURCES
from ..device import check_device, cpu_threads, resolve_device
from ..errors import ConfigError
from ..params import parse, setting

Attack = Literal["fgsm", "pgd"]
Bounds = tuple[float, float] | None
Logits = Callable[[torch.Tensor], torch.Tensor]

UNITS = {
    "image": "share of the full pixel intensity (pixels on a 0..1 scale, before normalisation)",
    "tabular": "training-split standard deviations of the standardised features (no clamp)",
    "text": "share of the word-embedding RMS, per embedding coordinate (no clamp)",
}
NOT_APPLICABLE = {
    "features": "the model input is cached features of a frozen backbone and the images are "
    "not kept: attack images with the backbone in the model (model.freeze_backbone: false)",
}


def fgsm(f: Logits, x: torch.Tensor, y: torch.Tensor, r: float, bounds: Bounds = None):
    """x' = clip(x + r · sign ∇ₓ L(f(x), y)), one step of the loss's sign gradient."""
    return _clip(x + r * _sign_grad(f, x, y), bounds)


def pgd(
    f: Logits,
    x: torch.Tensor,
    y: torch.Tensor,
    r: float,
    alpha: float,
    steps: int,
    bounds: Bounds = None,
    generator: torch.Generator | None = None,
    random_start: bool = True,
) -> torch.Tensor:
    """`steps` sign-gradient steps of size `alpha`, each projected onto the r-ball around
    `x` and the valid range; from a uniform random point of the ball (`random_start`)."""
    adv = x
    if random_start:
        u = torch.rand(x.shape, device=x.device, generator=generator, dtype=x.dtype)
        adv = _clip(x + (2 * u - 1) * r, bounds)
    for _ in range(steps):
        adv = adv + alpha * _sign_grad(f, adv, y)
        adv = _clip(torch.minimum(torch.maximum(adv, x - r), x + r), bounds)
    return adv


def _sign_grad(f: Logits, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sign ∇ₓ Σ L(f(x), y); the sum (not the mean) keeps each sample's gradient unscaled."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(f(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()


def _clip(x: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    return x.detach() if bounds is None else x.detach().clamp(*bounds)


# --- the model's input space -----------------------------------------------------------


@dataclass
class Space:
    """One batch as the attack sees it: the points, the function of them, range and scale."""

    x: torch.Tensor  # (B, ...) pixels on 0..1, standardised features, or embeddings (B, L, D)
    f: Logits  # points -> logits (B, classes)
    bounds: Bounds  # the valid range; None: unbounded
    scale: float  # radius per unit of ε


def pixel_max(splits: Splits) -> float:
    """Full intensity of an image data set: its training split's brightest pixel."""
    return float(splits.x_train.max())


def embedding_scale(model: nn.Module) -> float:
    """RMS of the word-embedding matrix of a token model: sqrt(mean(W²))."""
    w = model.model.get_input_embeddings().weight
    return float(w.detach().float().pow(2).mean().sqrt())


def input_space(model: nn.Module, splits: Splits) -> Callable[[torch.Tensor], Space]:
    """A function from a batch of the stored split (on the device) to its `Space`.

    Kinds without an attack raise ValueError (`NOT_APPLICABLE`)."""
    if splits.kind in NOT_APPLICABLE:
        raise ValueError(NOT_APPLICABLE[splits.kind])
    if splits.kind == "text":
        scale = embedding_scale(model)
        embed = model.model.get_input_embeddings()

        def text(ids: torch.Tensor) -> Space:
            mask = (ids != model.pad_token_id).long()

            def f(e: torch.Tensor) -> torch.Tensor:
                return model.model(inputs_embeds=e, attention_mask=mask).logits

            return Space(embed(ids).detach(), f, None, scale)

        return text
    if splits.kind == "tabular":
        return lambda x: Space(x.float(), model, None, 1.0)
    p = pixel_max(splits)
    shape = (1, -1) + (1,) * (splits.x_train.dim() - 2)

    def image(x: torch.Tensor) -> Space:
        mean = torch.tensor(splits.mean, device=x.device).view(shape)
        std = torch.tensor(splits.std, device=x.device).view(shape)
        return Space(x.float() / p, lambda u: model((u * p - mean) / std), (0.0, 1.0), 1.0)

    return image


# --- settings and the measurement ----------------------------------------------------------


@dataclass(frozen=True)
class PGDConfig:
    """`robustness.pgd`: the iterations of PGD."""

    steps: int = setting(10, ge=1)  # projected sign-gradient steps
    step_size: float = setting(0.25, gt=0)  # α as a share of the radius: α = step_size · ε
    random_start: bool = True  # start from a uniform point of the ε-ball


def _check_epsilons(value: Mapping[str, list[float]], path: str) -> None:
    valid = [*KINDS, *SOURCES]
    for key, eps in value.items():
        if key not in valid:
            raise ConfigError(f"{path}.{key} is unknown; valid: {', '.join(valid)}")
        if not isinstance(eps, list) or not eps:
            raise ConfigError(f"{path}.{key} = {eps!r} is invalid: must be a non-empty list")
        image = key == "image" or (key in SOURCES and SOURCES[key].kind == "image")
        for i, e in enumerate(eps):
            ok = isinstance(e, (int, float)) and not isinstance(e, bool) and math.isfinite(e)
            if not ok or e <= 0 or (image and e > 1):
                what = "a number in (0, 1] (pixels on 0..1)" if image else "a finite number > 0"
                raise ConfigError(f"{path}.{key}[{i}] = {e!r} is invalid: must be {what}")


@dataclass(frozen=True)
class RobustnessConfig:
    """`robustness`: which samples are attacked, how, and how hard."""

    split: Literal["train", "val", "test"] = "test"  # where the samples come from
    samples: int = setting(500, ge=1)  # the first samples of that split (shuffled, stratified)
    batch_size: int = setting(500, ge=1)  # samples per attacked batch
    device: str = setting("auto", check=check_device)  # auto | cpu | cuda | cuda:N | mps
    threads: int | None = setting(1, ge=1)  # CPU threads; null: the process's (runner's budget)
    seed: int = setting(0, ge=0)  # PGD's random starts
    attacks: list[Attack] = setting(factory=lambda: ["fgsm", "pgd"], nonempty=True)
    pgd: PGDConfig = PGDConfig()
    # ε per data set name or, for the rest, per kind of input (units: `UNITS`)
    epsilons: dict[str, list[float]] = field(
        default_factory=lambda: {
            "digits": [1 / 16, 2 / 16],  # one and two grey levels of its 16
            "image": [2 / 255, 8 / 255],
            "tabular": [0.1, 0.25],
            "text": [0.05, 0.1],
        },
        metadata={"check": _check_epsilons},
    )

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> RobustnessConfig:
        return parse(cls, params, "robustness")

    def epsilons_for(self, splits: Splits) -> list[float]:
        """The data set's own ε, else its kind's; none is a ConfigError."""
        eps = self.epsilons.get(splits.name, self.epsilons.get(splits.kind))
        if eps is None:
            raise ConfigError(
                f"robustness.epsilons has no entry for {splits.name!r} (kind {splits.kind}): "
                f"add robustness.epsilons.{splits.name} or .{splits.kind}"
            )
        return [float(e) for e in eps]


def _sample(splits: Splits, cfg: RobustnessConfig) -> Splits:
    """The first `cfg.samples` of `cfg.split` as the test split; train and val empty."""
    x = getattr(splits, f"x_{cfg.split}")[: cfg.samples]
    y = getattr(splits, f"y_{cfg.split}")[: cfg.samples]
    none = {f"{a}_{s}": t[:0] for s in ("train", "val") for a, t in (("x", x), ("y", y))}
    return replace(splits, x_test=x, y_test=y, **none)


@torch.no_grad()
def _correct(f: Logits, x: torch.Tensor, y: torch.Tensor) -> int:
    return int((f(x).argmax(-1) == y).sum())


def attack_accuracy(model: nn.Module, splits: Splits, cfg: RobustnessConfig) -> dict[str, Any]:
    """Clean accuracy and accuracy under each attack and ε on the sample, with the settings.

    `{"clean_acc", "results": [{"attack", "epsilon", "radius", "acc"}], "samples", ...}`;
    a kind without an attack: `{"not_applicable": why}`.
    """
    settings = {"split": cfg.split, "seed": cfg.seed, "pgd": asdict(cfg.pgd)}
    out: dict[str, Any] = {"input": splits.kind, **settings}
    try:
        space_of = input_space(model, splits)
    except ValueError as exc:
        return {**out, "not_applicable": str(exc)}
    epsilons = cfg.epsilons_for(splits)
    device = resolve_device(cfg.device)
    model = model.to(device).eval()
    data = to_device(_sample(splits, cfg), device, augment=False)
    gen = torch.Generator(device).manual_seed(cfg.seed)
    n, clean = len(data.y_test), 0
    correct = {(a, e): 0 for a in cfg.attacks for e in epsilons}
    with cpu_threads(cfg.threads if device.type == "cpu" else None):
        for i in range(0, n, cfg.batch_size):
            s = space_of(data.test[i : i + cfg.batch_size])
            y = data.y_test[i : i + cfg.batch_size]
            clean += _correct(s.f, s.x, y)
            for a, e in correct:
                r = e * s.scale
                if a == "fgsm":
                    adv = fgsm(s.f, s.x, y, r, s.bounds)
                else:
                    p = cfg.pgd
                    adv = pgd(
                        s.f, s.x, y, r, p.step_size * r, p.steps, s.bounds, gen, p.random_start
                    )
                correct[a, e] += _correct(s.f, adv, y)
    scale = s.scale  # the same for every batch
    return {
        **out,
        "epsilon_unit": UNITS[splits.kind],
        "scale": scale,
        "samples": n,
        "clean_acc": clean / n,
        "results": [
            {"attack": a, "epsilon": e, "radius": e * scale, "acc": c / n}
            for (a, e), c in correct.items()
        ],
    }
