import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from nonlinearity.layers import (
    PATTERNS,
    GatedActivation,
    MixedActivation,
    linear_count,
    linear_mask,
)


@pytest.fixture
def z():
    return torch.randn(16, 40)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_ratio_zero_is_the_activation(z, pattern):
    for act in (nn.ReLU(), nn.GELU()):
        m = MixedActivation(40, act, ratio=0.0, pattern=pattern)
        assert torch.equal(m(z), act(z))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_ratio_one_is_identity(z, pattern):
    m = MixedActivation(40, nn.ReLU(), ratio=1.0, pattern=pattern)
    assert torch.equal(m(z), z)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("num_features", [1, 7, 40, 512])
@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
def test_exact_number_of_linear_neurons(pattern, num_features, ratio):
    mask = linear_mask(num_features, ratio, pattern, seed=3)
    assert int(mask.sum()) == linear_count(num_features, ratio) == int(ratio * num_features + 0.5)


def test_patterns_place_linear_neurons_as_documented():
    assert linear_mask(8, 0.5, "structured").tolist() == [True] * 4 + [False] * 4
    assert linear_mask(8, 0.5, "alternating").tolist() == [True, False] * 4
    assert linear_mask(8, 0.25, "alternating").nonzero().flatten().tolist() == [0, 4]
    a, b = linear_mask(512, 0.5, "random", seed=0), linear_mask(512, 0.5, "random", seed=0)
    assert torch.equal(a, b)
    assert not torch.equal(a, linear_mask(512, 0.5, "random", seed=1))


def test_mixed_math_per_neuron(z):
    m = MixedActivation(40, nn.ReLU(), ratio=0.5, pattern="structured")
    y = m(z)
    assert torch.equal(y[:, :20], z[:, :20])
    assert torch.equal(y[:, 20:], z[:, 20:].clamp_min(0))


def test_conv_input_masks_channels():
    x = torch.randn(2, 6, 5, 5)
    m = MixedActivation(6, nn.ReLU(), ratio=0.5, pattern="structured", neuron_dim=1)
    y = m(x)
    assert torch.equal(y[:, :3], x[:, :3])
    assert torch.equal(y[:, 3:], x[:, 3:].clamp_min(0))


def test_sequence_input_uses_last_dim():
    x = torch.randn(2, 9, 8)  # (B, L, C)
    m = MixedActivation(8, nn.GELU(), ratio=0.5, pattern="alternating")
    y = m(x)
    assert torch.equal(y[..., 0::2], x[..., 0::2])
    # GELU on a strided slice may take another vector path: equal to float rounding
    torch.testing.assert_close(y[..., 1::2], nn.functional.gelu(x[..., 1::2]))


def test_bad_ratio_and_pattern_raise():
    with pytest.raises(ValueError, match="outside"):
        linear_mask(4, 1.5)
    with pytest.raises(ValueError, match="valid: random, structured, alternating"):
        linear_mask(4, 0.5, "zigzag")


def test_state_dict_round_trip_restores_mask():
    a = MixedActivation(10, nn.ReLU(), ratio=0.3, seed=1)
    b = MixedActivation(10, nn.ReLU(), ratio=0.0)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 10)
    assert b.n_nonlinear == 7 and torch.equal(a(x), b(x))
    assert "ratio=0.3" in repr(a) and "nonlinear=7/10" in repr(a)


class _Ops(TorchDispatchMode):
    """The aten operators a forward dispatches."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket.__name__))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("shape", [(1, 40), (16, 40), (2, 9, 40)])
def test_inference_is_one_clamp_min_like_relu_is_one_relu(shape):
    """At inference a partly linear ReLU layer runs one kernel, as nn.ReLU does: no view,
    cast or mask tensor per call (what made it 1.25-1.31x an all-ReLU MLP at batch 1)."""
    z = torch.randn(shape)
    m = MixedActivation(40, nn.ReLU(), ratio=0.5, seed=2)
    with torch.no_grad():
        with _Ops() as mixed:
            y = m(z)
        with _Ops() as plain:
            nn.ReLU()(z)
    assert mixed.ops == ["clamp_min"] and plain.ops == ["relu"]
    lin = ~m.nonlinear_mask
    assert torch.equal(y[..., lin], z[..., lin])
    assert torch.equal(y[..., ~lin], z[..., ~lin].clamp_min(0))
    assert torch.equal(y, m(z))  # the autograd path gives the same values
    none, every = (MixedActivation(40, nn.ReLU(), ratio=r) for r in (0.0, 1.0))
    with torch.no_grad():
        with _Ops() as relu:
            y0 = none(z)
        with _Ops() as identity:
            y1 = every(z)
    assert relu.ops == ["relu"] and identity.ops == [] and y1 is z
    assert torch.equal(y0, torch.relu(z))


def test_inference_path_follows_dtype_and_device_moves():
    z = torch.randn(8, 40, dtype=torch.float64)
    m = MixedActivation(40, nn.ReLU(), ratio=0.25, seed=1).double()
    assert m._floor is m.relu_floor and m._floor.dtype == m._floor_dtype == torch.float64
    with torch.no_grad():
        y = m(z)
        half = m(z.to(torch.bfloat16))  # another dtype: the general path casts the floor
    expected = torch.where(m.nonlinear_mask, z.clamp_min(0), z)
    assert torch.equal(y, expected) and torch.equal(half, expected.to(torch.bfloat16))


def test_hardened_gate_takes_the_same_one_kernel_path():
    g = GatedActivation(40, nn.ReLU())
    with torch.no_grad():
        g.logit[::3] = -10.0
    g.harden(0.5)
    z = torch.randn(4, 40)
    with torch.no_grad(), _Ops() as seen:
        y = g(z)
    assert seen.ops == ["clamp_min"]
    assert torch.equal(y, torch.where(g.nonlinear_mask, z.clamp_min(0), z))
