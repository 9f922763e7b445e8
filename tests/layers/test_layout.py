"""Nonlinear-first layout: the same function, the nonlinear units of each layer first.

A permutation keeps every pre-activation bit for bit; the next Linear adds the same
products in another order, so outputs agree to float rounding: float64 to 1e-12,
float32 to 1e-5 (the logits are O(1))."""

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from nonlinearity.analysis import Thresholds, activation_stats
from nonlinearity.layers import GatedActivation, MixedActivation
from nonlinearity.layers.apply import Approach, apply_approach, masked_layers
from nonlinearity.layers.layout import nonlinear_first
from nonlinearity.models import build_model
from nonlinearity.models.mlp import MLPConfig, build_mlp
from nonlinearity.pruning import PruneConfig, apply_decisions, decide

X = torch.randn(64, 12, generator=torch.Generator().manual_seed(0))
TINY_BERT = {
    "name": "transformer",
    "config": {
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 24,
        "vocab_size": 30,
        "max_position_embeddings": 16,
    },
}


def mlp(activation: str = "gelu", ratio: float = 0.5, dropout: float = 0.1) -> nn.Sequential:
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(12, 5, [20, 16, 9], activation, dropout))
    apply_approach(model, Approach("fixed", ratio=ratio), X[:2])
    return model.eval()


def assert_same_function(a: nn.Module, b: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x), rtol=0, atol=1e-5)
        if x.is_floating_point():
            torch.testing.assert_close(
                b.double()(x.double()), a.double()(x.double()), rtol=0, atol=1e-12
            )


def is_prefix(mask: torch.Tensor) -> bool:
    k = int(mask.sum())
    return bool(mask[:k].all()) and not bool(mask[k:].any())


def test_gelu_mlp_gets_nonlinear_units_first_and_the_same_function():
    model = mlp()
    laid = nonlinear_first(model)
    assert all(not is_prefix(m.nonlinear_mask) for m in masked_layers(model))  # random masks
    for old, new in zip(masked_layers(model), masked_layers(laid), strict=True):
        assert is_prefix(new.nonlinear_mask) and new.n_nonlinear == old.n_nonlinear
        assert new._prefix
    # each unit's pre-activation is the same dot product: bitwise, in the new order
    order = torch.argsort((~model.act0.nonlinear_mask).to(torch.uint8), stable=True)
    with torch.no_grad():
        assert torch.equal(laid.fc0(X), model.fc0(X)[:, order])
    assert_same_function(model, laid, X)


def test_prefix_path_is_f_on_the_slice_and_identity_on_the_rest_with_the_same_gradient():
    mask = torch.tensor([True] * 5 + [False] * 3)
    m = MixedActivation(8, nn.GELU())
    m.set_mask(mask)
    z = torch.randn(4, 3, 8, requires_grad=True)

    class Ops(TorchDispatchMode):
        ops: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Ops() as seen:
        y = m(z)
    assert "where" not in seen.ops and seen.ops.count("gelu") == 1
    assert torch.equal(y[..., :5], nn.functional.gelu(z[..., :5])) and torch.equal(
        y[..., 5:], z[..., 5:]
    )
    (grad,) = torch.autograd.grad(m(z).sum(), z)
    (ref,) = torch.autograd.grad(torch.where(mask, nn.functional.gelu(z), z).sum(), z)
    torch.testing.assert_close(grad, ref)


def test_relu_layers_keep_their_order_and_a_relu_model_is_not_copied():
    """ReLU's mixed path is one clamp_min on any layout: nothing to gain, bitwise kept."""
    relu = mlp("relu")
    assert nonlinear_first(relu) is relu
    model = mlp("gelu")
    model.act1 = MixedActivation(16, nn.ReLU(), ratio=0.5, seed=5)
    laid = nonlinear_first(model)
    assert is_prefix(laid.act0.nonlinear_mask) and is_prefix(laid.act2.nonlinear_mask)
    assert torch.equal(laid.act1.nonlinear_mask, model.act1.nonlinear_mask)
    assert not is_prefix(laid.act1.nonlinear_mask)
    # fc1's rows (act1's units) keep their order; its columns follow act0's units
    order = torch.argsort((~model.act0.nonlinear_mask).to(torch.uint8), stable=True)
    assert torch.equal(laid.fc1.weight, model.fc1.weight[:, order])
    assert torch.equal(laid.fc1.bias, model.fc1.bias)
    assert_same_function(model, laid, X)


def test_hardened_gates_move_with_their_units_and_soft_gates_stay():
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(12, 5, [20, 16], "silu"))
    apply_approach(model, Approach("gating"), X[:2])
    gates = [m for m in model.modules() if isinstance(m, GatedActivation)]
    with torch.no_grad():
        for g in gates:
            g.logit.normal_(generator=torch.Generator().manual_seed(g.num_features))
    gates[0].harden(0.5)
    model.eval()
    laid = nonlinear_first(model)
    hard, soft = laid.act0, laid.act1
    assert is_prefix(hard.nonlinear_mask) and hard.hardened
    order = torch.argsort((~gates[0].nonlinear_mask).to(torch.uint8), stable=True)
    assert torch.equal(hard.logit, gates[0].logit[order])  # alpha follows its unit
    assert torch.equal(soft.logit, gates[1].logit) and torch.equal(laid.fc1.bias, model.fc1.bias)
    assert_same_function(model, laid, X)


def test_pruned_unfolded_model_same_function():
    model = mlp(ratio=0.0, dropout=0.0)
    neurons = activation_stats(model, X)
    d = decide(neurons, Thresholds(), PruneConfig())
    d["decision"] = [("dead", "linear", "nonlinear")[i % 3] for i in d.neuron]
    apply_decisions(model, d, X[:2])
    assert model.fc0.out_features < 20  # dead units removed
    laid = nonlinear_first(model)
    assert all(is_prefix(m.nonlinear_mask) for m in masked_layers(laid))
    assert_same_function(model, laid, X)


def test_transformer_ffn_is_laid_out_and_a_site_without_linear_neighbours_is_not():
    torch.manual_seed(0)
    model = build_model(TINY_BERT, (8,), 2, "text").eval()
    ids = torch.randint(1, 30, (4, 8), generator=torch.Generator().manual_seed(1))
    apply_approach(model, Approach("fixed", ratio=0.5, target="*intermediate*"), ids[:2])
    laid = nonlinear_first(model)
    for m in masked_layers(laid):
        assert is_prefix(m.nonlinear_mask)
    with torch.no_grad():
        torch.testing.assert_close(laid(ids), model(ids), rtol=0, atol=1e-5)
    # a masked layer feeding a LayerNorm, not a Linear, cannot be permuted alone
    torch.manual_seed(0)
    odd = nn.Sequential(nn.Linear(12, 10), nn.GELU(), nn.LayerNorm(10), nn.Linear(10, 3))
    apply_approach(odd, Approach("fixed", ratio=0.5), X[:2])
    kept = nonlinear_first(odd.eval())
    assert torch.equal(kept[1].nonlinear_mask, odd[1].nonlinear_mask)
    with torch.no_grad():
        assert torch.equal(kept(X), odd(X))


@pytest.mark.parametrize("activation", ["gelu", "silu"])
def test_compiled_equals_eager_on_the_prefix_path(activation):
    laid = nonlinear_first(mlp(activation))
    compiled = torch.compile(laid, backend="aot_eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(X), laid(X))
