"""Exact folding: linear neurons become fewer operations.

In an MLP `z_{i+1} = W_{i+1} a_i + b_{i+1}`, a linear neuron j of layer i passes
`W_{i+1}[:, j] (W_i[j, :] h + b_i[j])` straight through, so the linear part of a layer
is the product of two matrices. Folding walks the layers keeping each pre-activation as
a sum of affine maps of earlier outputs (the input and the nonlinear outputs of earlier
layers) and, for the k linear neurons of a layer with `d` input features and `out`
outputs in the next layer:

- merges them into the next layer (`W_{i+1}[:, L] W_i[L]`, a skip from the layer's own
  inputs) when that costs no more multiply-adds than passing them through:
  `out * d <= k * (d + out)`; a layer with only linear neurons then disappears (depth
  shrinks) and a partly linear one keeps only its nonlinear neurons;
- otherwise keeps the layer whole, its linear neurons an identity path inside the same
  Linear (one matmul, no concatenation; the mixed activation skips them).

The result, `FoldedMLP`, is a small DAG of `Linear` nodes, each followed by the plain
activation, a mixed one (kept layers) or nothing. Products are taken in float64.
BatchNorm in inference mode folds into the adjacent conv (`torch.fx` fusion) for
ResNet backbones.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.gated import GatedActivation
from ..layers.mixed import MaskedActivation, MixedActivation

PASS_THROUGH = (nn.Dropout, nn.Identity)


class FoldedNode(nn.Module):
    """`act(linear(cat(sources)))`; source 0 is the flattened input, source i+1 node i."""

    def __init__(self, sources: tuple[int, ...], linear: nn.Linear, act: nn.Module | None):
        super().__init__()
        self.sources = tuple(sources)
        self.linear = linear
        self.act = act

    def extra_repr(self) -> str:
        return f"sources={self.sources}"


class FoldedMLP(nn.Module):
    """The folded network: nodes in order; the last node's output is the logits."""

    def __init__(self, nodes: list[FoldedNode]) -> None:
        super().__init__()
        self.nodes = nn.ModuleList(nodes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [x.flatten(1)]
        for node in self.nodes:
            src = node.sources
            h = outs[src[0]] if len(src) == 1 else torch.cat([outs[s] for s in src], 1)
            z = node.linear(h)
            outs.append(node.act(z) if node.act is not None else z)
        return outs[-1]


@dataclass
class _Hidden:
    linear: nn.Linear
    act: nn.Module | None  # None: the output layer


def _mlp_layers(model: nn.Sequential) -> list[_Hidden]:
    """Flatten? -> [Linear -> activation (-> Dropout)] x L -> Linear, as (Linear, act) pairs."""
    mods = [m for m in model if not isinstance(m, (nn.Flatten, *PASS_THROUGH))]
    layers: list[_Hidden] = []
    i = 0
    while i < len(mods):
        lin = mods[i]
        if not isinstance(lin, nn.Linear):
            raise ConfigError(
                f"folding needs an MLP (Linear -> activation -> ... -> Linear); found "
                f"{type(lin).__name__} where a Linear was expected"
            )
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        if nxt is None or isinstance(nxt, nn.Linear):
            layers.append(_Hidden(lin, None))
            i += 1
        else:
            layers.append(_Hidden(lin, nxt))
            i += 2
    if layers[-1].act is not None:
        raise ConfigError("folding needs an MLP that ends in a Linear layer")
    return layers


def _nonlinear_mask(act: nn.Module, features: int) -> tuple[torch.Tensor, nn.Module]:
    """(C,) bool, True where the neuron applies its nonlinearity; and that nonlinearity."""
    if isinstance(act, GatedActivation) and not act.hardened:
        raise ConfigError(
            "a soft gated layer blends both paths in every neuron and cannot be folded: "
            "harden it first"
        )
    if isinstance(act, MaskedActivation):
        return act.nonlinear_mask.detach().cpu().clone(), copy.deepcopy(act.act)
    return torch.ones(features, dtype=torch.bool), copy.deepcopy(act)


def _linear(weight: torch.Tensor, bias: torch.Tensor, dtype: torch.dtype) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0], dtype=dtype)
    with torch.no_grad():
        lin.weight.copy_(weight.to(dtype))
        lin.bias.copy_(bias.to(dtype))
    return lin


def _merge_pays(k: int, d: int, out: int) -> bool:
    """Merging k linear units (d inputs, out outputs) costs `out * d` multiply-adds against
    `k * (d + out)` through them: worth it when no more."""
    return k > 0 and out * d <= k * (d + out)


@torch.no_grad()
def fold_mlp(model: nn.Sequential) -> FoldedMLP:
    """The exact folded equal of an MLP whose activations are plain, mixed or hardened."""
    layers = _mlp_layers(model)
    dtype = layers[0].linear.weight.dtype
    dims = {0: layers[0].linear.in_features}
    nodes: list[FoldedNode] = []
    # the current layer's pre-activation: sum over sources s of expr[s] @ out_s, plus bias
    expr = {0: layers[0].linear.weight.double().cpu()}
    bias = layers[0].linear.bias.double().cpu()

    def add_node(rows: torch.Tensor, act: nn.Module | None) -> int:
        srcs = tuple(sorted(expr))
        weight = torch.cat([expr[s][rows] for s in srcs], 1)
        nodes.append(FoldedNode(srcs, _linear(weight, bias[rows], dtype), act))
        dims[len(nodes)] = int(rows.sum())
        return len(nodes)

    for layer, nxt in zip(layers[:-1], layers[1:], strict=True):
        mask, act = _nonlinear_mask(layer.act, layer.linear.out_features)
        w_next = nxt.linear.weight.double().cpu()
        b_next = nxt.linear.bias.double().cpu()
        lin = ~mask
        k, d, out = int(lin.sum()), sum(dims[s] for s in expr), w_next.shape[0]
        if _merge_pays(k, d, out):  # merge the linear part into the next layer
            new_expr = {s: w_next[:, lin] @ w[lin] for s, w in expr.items()}
            new_bias = w_next[:, lin] @ bias[lin] + b_next
            if mask.any():
                new_expr[add_node(mask, act)] = w_next[:, mask]
        else:  # keep the layer whole: one Linear, the nonlinearity on its nonlinear units
            new_bias = b_next.clone()
            keep = torch.ones_like(mask)
            if not mask.any():
                node_act = None
            elif not k:
                node_act = act
            else:
                node_act = MixedActivation(len(mask), act)
                node_act.set_mask(mask)
            new_expr = {add_node(keep, node_act): w_next}
        expr, bias = new_expr, new_bias
    nodes.append(
        FoldedNode(
            tuple(sorted(expr)),
            _linear(torch.cat([expr[s] for s in sorted(expr)], 1), bias, dtype),
            None,
        )
    )
    return FoldedMLP(nodes).to(layers[0].linear.weight.device)


class FoldedFFNInput(nn.Module):
    """A transformer FFN's first half after folding: the nonlinear units, then (when the
    linear ones merged into the output Linear) the FFN input itself as a skip."""

    def __init__(self, dense: nn.Linear | None, act: nn.Module | None, skip: bool) -> None:
        super().__init__()
        self.dense = dense
        self.act = act
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dense is None:
            return x
        h = self.act(self.dense(x)) if self.act is not None else self.dense(x)
        return torch.cat([h, x], -1) if self.skip else h


@torch.no_grad()
def fold_ffn(model: nn.Module, site: str) -> bool:
    """Fold one BERT-style FFN (`<layer>.intermediate` -> `<layer>.output.dense`) in place.

    `out = W2 act(W1 x + b1) + b2`: the k linear units merge into the output Linear as
    `W2[:, L] W1[L] x` when `d * d <= k * 2d`; returns whether it folded.
    """
    from .prune import linear_neighbours

    act = model.get_submodule(site)
    pair = linear_neighbours(model, site)
    if pair is None or not isinstance(act, MaskedActivation):
        return False
    mask, plain_act = _nonlinear_mask(act, act.num_features)
    lin, k = ~mask, int((~mask).sum())
    w1, w2 = model.get_submodule(pair[0]), model.get_submodule(pair[1])
    d_in, d_out = w1.in_features, w2.out_features
    if not _merge_pays(k, d_in, d_out):
        return False  # nothing to gain: the mixed activation stays
    dtype = w1.weight.dtype
    a, b = w1.weight.double(), w1.bias.double()
    c, e = w2.weight.double(), w2.bias.double()
    merged = c[:, lin] @ a[lin]
    bias = c[:, lin] @ b[lin] + e
    if mask.any():
        first = _linear(a[mask], b[mask], dtype)
        model.set_submodule(site.rpartition(".")[0], FoldedFFNInput(first, plain_act, True))
        weight = torch.cat([c[:, mask], merged], 1)
    else:
        model.set_submodule(site.rpartition(".")[0], FoldedFFNInput(None, None, False))
        weight = merged
    model.set_submodule(pair[1], _linear(weight, bias, dtype).to(w2.weight.device))
    return True


def fold_model(model: nn.Module) -> nn.Module:
    """Fold an MLP, a ResNet's MLP head (and its BatchNorms into the convs), or the FFNs of
    a transformer classifier."""
    from ..models.resnet import BackboneHead
    from ..models.transformer import SequenceClassifier

    model = copy.deepcopy(model).eval()
    if isinstance(model, nn.Sequential):
        return fold_mlp(model)
    if isinstance(model, BackboneHead):
        from torch.fx.experimental.optimization import fuse

        backbone = fuse(model.backbone)  # conv + BatchNorm (eval) -> one conv
        return BackboneHead(backbone, fold_mlp(model.head), model.frozen).eval()
    if isinstance(model, SequenceClassifier):
        sites = [n for n, m in model.named_modules() if n.endswith("intermediate_act_fn")]
        if not sites:
            raise ConfigError("folding found no FFN (<layer>.intermediate) in this transformer")
        for site in sites:
            fold_ffn(model, site)
        return model
    raise ConfigError(
        f"folding supports MLPs, ResNet heads and BERT-style transformers; "
        f"{type(model).__name__} is none of them"
    )


def linear_macs(model: nn.Module) -> int:
    """Multiply-adds of the Linear layers for one sample (dense MLPs and folded nodes)."""
    return sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))
