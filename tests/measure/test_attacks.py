"""FGSM and PGD: exact on linear models, inside the ε-ball and the valid range, equal to the
Adversarial Robustness Toolbox on one model, and in the right input space per kind."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from nonlinearity.data import Splits, to_device
from nonlinearity.errors import ConfigError
from nonlinearity.measure.robustness import (
    RobustnessConfig,
    attack_accuracy,
    embedding_scale,
    fgsm,
    input_space,
    pgd,
)
from nonlinearity.models import build_model

torch.manual_seed(0)


def _linear(features: int = 6, classes: int = 2) -> nn.Linear:
    return nn.Linear(features, classes).requires_grad_(False)


def _corner(model: nn.Linear, x, y, r):
    """Where an L∞ attack of radius r ends on a linear 2-class model: every coordinate moved
    by r against the true class's margin, x − r · sign(w_y − w_other)."""
    w = model.weight
    margin = w[y] - w[1 - y]  # (N, F): ∇ₓ (z_y − z_other)
    return x - r * margin.sign()


def test_fgsm_on_a_linear_model_moves_each_coordinate_by_r_against_the_margin():
    model = _linear()
    x = 0.3 + 0.4 * torch.rand(64, 6)  # inside (0.3, 0.7): the clamp to [0, 1] never binds
    y = torch.randint(0, 2, (64,))
    adv = fgsm(model, x, y, 0.1, (0.0, 1.0))
    assert torch.equal(adv, _corner(model, x, y, 0.1))


def test_fgsm_clamps_to_the_valid_range():
    model = _linear()
    x = torch.rand(64, 6)
    y = torch.randint(0, 2, (64,))
    adv = fgsm(model, x, y, 0.5, (0.0, 1.0))
    assert torch.equal(adv, _corner(model, x, y, 0.5).clamp(0, 1))
    assert adv.min() == 0 and adv.max() == 1  # it did bind


def test_pgd_ends_at_the_corner_of_the_ball_on_a_linear_model():
    """From any start in the ball, steps of α = r/4 in one direction reach the corner within
    8 steps and projection keeps them there: 10 steps end exactly on it."""
    model = _linear()
    x = 0.3 + 0.4 * torch.rand(64, 6)
    y = torch.randint(0, 2, (64,))
    gen = torch.Generator().manual_seed(1)
    adv = pgd(model, x, y, 0.1, 0.025, 10, (0.0, 1.0), gen)
    assert torch.allclose(adv, _corner(model, x, y, 0.1), atol=1e-7)
    assert not torch.allclose(pgd(model, x, y, 0.1, 0.025, 3, (0.0, 1.0), gen), adv)


def test_pgd_stays_in_the_ball_and_the_range():
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    x = torch.rand(128, 8)
    y = torch.randint(0, 3, (128,))
    gen = torch.Generator().manual_seed(0)
    for start in (True, False):
        adv = pgd(model, x, y, 0.2, 0.07, 7, (0.0, 1.0), gen, random_start=start)
        assert (adv - x).abs().max() <= 0.2 + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
        assert (adv - x).abs().max() > 0.19  # it moved to the edge somewhere
        unbounded = pgd(model, x, y, 0.2, 0.07, 7, None, gen, random_start=start)
        assert (unbounded - x).abs().max() <= 0.2 + 1e-6 and unbounded.min() < 0


def test_attacks_equal_the_adversarial_robustness_toolbox_on_one_model():
    pytest.importorskip(
        "art", reason="adversarial-robustness-toolbox (the dev extra) checks the attacks"
    )
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier

    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
    model.append(nn.Linear(32, 4)).eval()
    x = torch.rand(200, 10)
    y = torch.randint(0, 4, (200,))
    clf = PyTorchClassifier(
        model, nn.CrossEntropyLoss(), (10,), 4, clip_values=(0.0, 1.0), device_type="cpu"
    )
    theirs = FastGradientMethod(clf, norm=np.inf, eps=0.1, batch_size=200).generate(
        x.numpy(), y.numpy()
    )
    assert np.allclose(fgsm(model, x, y, 0.1, (0.0, 1.0)).numpy(), theirs, atol=1e-6)
    art_pgd = ProjectedGradientDescentPyTorch(
        clf, norm=np.inf, eps=0.1, eps_step=0.02, max_iter=10, num_random_init=0,
        batch_size=200, verbose=False,
    )  # fmt: skip
    theirs = art_pgd.generate(x.numpy(), y.numpy())
    ours = pgd(model, x, y, 0.1, 0.02, 10, (0.0, 1.0), random_start=False)
    assert np.allclose(ours.numpy(), theirs, atol=1e-5)
    with torch.no_grad():
        loss = nn.functional.cross_entropy
        assert torch.equal(model(ours).argmax(1), model(torch.from_numpy(theirs)).argmax(1))
        assert loss(model(ours), y) > loss(model(x), y) + 0.01  # the attack did something


def _images(n: int = 40) -> Splits:
    """Two-channel 4x4 uint8 images on 0..16, two classes; per-channel mean and std."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 17, (n, 2, 4, 4), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 2, (n,), generator=g)
    x[0, 0, 0, 0] = 16  # full intensity present in the training split
    return Splits("digits", x, y, x, y, x, y, [7.0, 9.0], [4.0, 2.0], 2)


def test_image_attacks_move_pixels_on_a_0_to_1_scale_normalising_inside():
    """Attacking u = x/P through the normalisation equals attacking the normalised input
    z = (x − mean)/std with the radius scaled per channel by P/std (FGSM; no clamp binds)."""
    splits = _images()
    model = nn.Sequential(nn.Flatten(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 2)).eval()
    data = to_device(splits, "cpu", augment=False)
    space = input_space(model, splits)(data.test)
    assert space.bounds == (0.0, 1.0) and space.x.max() == 1.0
    assert torch.allclose(space.f(space.x), model(data.x_test), atol=1e-6)
    r = 0.01  # below 1/16: a pixel on 0 or 16 moves out of range only where the clamp binds
    inside = (space.x > r) & (space.x < 1 - r)
    adv_u = fgsm(space.f, space.x, splits.y_test, r, space.bounds)
    per_channel = (r * 16.0 / torch.tensor([4.0, 2.0])).view(1, 2, 1, 1)
    adv_z = fgsm(model, data.x_test, splits.y_test, per_channel)
    normalised = (adv_u * 16 - data.mean) / data.std
    assert torch.allclose(normalised[inside], adv_z[inside], atol=1e-5)
    assert not torch.allclose(normalised, data.x_test)


def test_attack_accuracy_on_tabular_data_is_in_standard_deviations():
    x = torch.randn(60, 6)
    y = (x[:, 0] > 0).long()
    splits = Splits("breast_cancer", x, y, x, y, x, y, None, None, 2, kind="tabular")
    model = _linear()
    with torch.no_grad():  # the ideal linear rule on feature 0
        model.weight.zero_()
        model.bias.zero_()
        model.weight[1, 0], model.weight[0, 0] = 1.0, -1.0
    cfg = RobustnessConfig.from_params({"epsilons": {"tabular": [0.5]}, "device": "cpu"})
    out = attack_accuracy(model, splits, cfg)
    assert out["clean_acc"] == 1.0 and out["samples"] == 60
    # FGSM and PGD both push feature 0 across 0 exactly where |x₀| < 0.5
    expected = float((x[:, 0].abs() >= 0.5).float().mean())
    assert [r["acc"] for r in out["results"]] == [pytest.approx(expected)] * 2
    assert [r["attack"] for r in out["results"]] == ["fgsm", "pgd"]


def test_text_is_attacked_in_embedding_space_relative_to_the_embedding_rms():
    config = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 48,
        "max_position_embeddings": 32,
        "vocab_size": 50,
    }
    model = build_model({"name": "transformer", "config": config}, (12,), 2, "text").eval()
    ids = torch.randint(5, 50, (16, 12))
    ids[:, 9:] = model.pad_token_id  # padded sentences
    y = torch.randint(0, 2, (16,))
    splits = Splits("sentiment_synthetic", ids, y, ids, y, ids, y, None, None, 2, kind="text")
    space = input_space(model, splits)(ids)
    w = model.model.get_input_embeddings().weight
    assert space.scale == pytest.approx(float(w.pow(2).mean().sqrt()))
    assert space.scale == embedding_scale(model) and space.bounds is None
    with torch.no_grad():
        assert torch.allclose(space.f(space.x), model(ids), atol=1e-5)
    cfg = RobustnessConfig.from_params({"epsilons": {"text": [0.5]}, "device": "cpu"})
    out = attack_accuracy(model, splits, cfg)
    assert out["results"][0]["radius"] == pytest.approx(0.5 * space.scale)
    assert all(r["acc"] <= out["clean_acc"] for r in out["results"])


def test_cached_features_are_not_applicable():
    splits = replace(_images(), kind="features", mean=None, std=None)
    out = attack_accuracy(nn.Identity(), splits, RobustnessConfig())
    assert "frozen backbone" in out["not_applicable"] and "results" not in out


def test_settings_are_checked_before_any_work():
    with pytest.raises(ConfigError, match="robustness.epsilons.imagenette is unknown; valid"):
        RobustnessConfig.from_params({"epsilons": {"imagenette": [0.1]}})
    with pytest.raises(ConfigError, match=r"robustness.epsilons.digits\[0\] = 2.0 is invalid"):
        RobustnessConfig.from_params({"epsilons": {"digits": [2]}})
    with pytest.raises(ConfigError, match="robustness.attacks\\[1\\] 'cw' is unknown"):
        RobustnessConfig.from_params({"attacks": ["fgsm", "cw"]})
    with pytest.raises(ConfigError, match="robustness.pgd.steps = 0 is invalid"):
        RobustnessConfig.from_params({"pgd": {"steps": 0}})
    cfg = RobustnessConfig.from_params({"epsilons": {"digits": [0.0625], "image": [0.01]}})
    assert cfg.epsilons_for(_images()) == [0.0625]  # the data set's own before its kind's
    assert cfg.epsilons_for(replace(_images(), name="cifar10")) == [0.01]
    with pytest.raises(ConfigError, match="robustness.epsilons has no entry for 'adult'"):
        cfg.epsilons_for(replace(_images(), name="adult", kind="tabular"))
