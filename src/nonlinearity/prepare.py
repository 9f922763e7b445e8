"""Splits -> the model's input: token ids for text models, cached features for frozen backbones.

A frozen backbone whose ReLUs are not targeted computes the same features in every
run, so they are computed once here and the head sweeps train on them. The
backbone is kept with the features; each run puts its trained head back on it,
so saved models, latency and FLOPs are those of the whole network on images.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch

from .data import Splits, to_device
from .device import resolve_device
from .models import BackboneHead, build_model, load_tokenizer, tokenize
from .training.loop import _autocast

log = logging.getLogger(__name__)


def caches_features(model_params: Mapping[str, Any]) -> bool:
    """Frozen backbone, approach on the head only: features are the same for every run."""
    return bool(model_params.get("freeze_backbone")) and model_params.get("target") == "head"


def tokenize_splits(splits: Splits, model_params: Mapping[str, Any], max_length: int) -> Splits:
    tok = load_tokenizer(model_params)
    ids = [tokenize(tok, x, max_length) for x in (splits.x_train, splits.x_val, splits.x_test)]
    lengths = (ids[0] != tok.pad_token_id).sum(1).float()
    info = {
        **splits.info,
        "tokenizer": type(tok).__name__,
        "max_length": max_length,
        "truncated_share": float((lengths >= max_length).float().mean()),
        "mean_tokens": float(lengths.mean()),
    }
    return replace(splits, x_train=ids[0], x_val=ids[1], x_test=ids[2], info=info)


@torch.no_grad()
def backbone_features(
    splits: Splits,
    model_params: Mapping[str, Any],
    device: str = "auto",
    batch_size: int = 512,
    amp: bool = False,
) -> Splits:
    dev = resolve_device(device)
    torch.manual_seed(int(model_params.get("backbone_seed", 0)))
    model = build_model(model_params, splits.input_shape, splits.num_classes, splits.kind)
    assert isinstance(model, BackboneHead)
    backbone = model.backbone.to(dev).eval()
    data = to_device(splits, dev, augment=False)
    started = time.perf_counter()

    def feats(x: torch.Tensor) -> torch.Tensor:
        out = []
        for i in range(0, len(x), batch_size):
            with _autocast(dev, amp):
                out.append(backbone(x[i : i + batch_size]).float().cpu())
        return torch.cat(out)

    f_train, f_val, f_test = feats(data.x_train), feats(data.x_val), feats(data.x_test)
    log.info(
        "%s: cached %d-d backbone features of %d images in %.1fs",
        splits.name,
        f_train.shape[1],
        sum(splits.sizes().values()),
        time.perf_counter() - started,
    )
    return replace(
        splits,
        x_train=f_train,
        x_val=f_val,
        x_test=f_test,
        mean=None,
        std=None,
        kind="features",
        augment=False,
        backbone=backbone.cpu(),
        image_shape=splits.input_shape,
        info={**splits.info, "features_from": model_params.get("name"), "image_mean": splits.mean},
    )


def prepare_model_input(
    splits: Splits,
    model_params: Mapping[str, Any],
    data_params: Mapping[str, Any],
    train_params: Mapping[str, Any],
) -> Splits:
    if splits.kind == "text":
        return tokenize_splits(splits, model_params, int(data_params.get("max_length", 64)))
    if splits.kind == "image" and caches_features(model_params):
        return backbone_features(
            splits,
            model_params,
            train_params.get("device", "auto"),
            min(int(train_params.get("eval_batch_size", 256)), 256),
            bool(train_params.get("amp", False)),
        )
    return splits
