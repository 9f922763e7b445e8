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

from ..device import resolve_device
from ..errors import ConfigError
from ..models import BackboneHead, build_model, load_tokenizer, tokenize
from ..run.fingerprint import array_fingerprint, canonical, dotted_get, settings_diff
from ..training.loop import _autocast
from .splits import Splits, to_device

log = logging.getLogger(__name__)


BACKBONE_KEYS = ("name", "pretrained", "stem", "backbone_seed")


def caches_features(model_params: Mapping[str, Any]) -> bool:
    """Frozen backbone, approach on the head only: features are the same for every run."""
    return bool(model_params.get("freeze_backbone")) and model_params.get("target") == "head"


def _tokenizer_name(model_params: Mapping[str, Any]) -> str:
    return model_params.get("tokenizer") or model_params.get("checkpoint", "bert-base-uncased")


def prepared_for(kind: str, model_params: Mapping[str, Any]) -> dict[str, Any]:
    """The model settings a prepared input depends on (recorded, then checked by each run)."""
    if kind == "features":
        return {k: model_params.get(k) for k in BACKBONE_KEYS}
    if kind == "text":
        return {"tokenizer": _tokenizer_name(model_params)}
    return {}


def resolved_data(data_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `data` settings as they act: every key of `DataConfig`, defaults written out."""
    from dataclasses import asdict

    from ..params import parse
    from .splits import DataConfig

    return asdict(parse(DataConfig, data_params, "data"))


def data_fingerprint(splits: Splits) -> str:
    """sha256 of the model input's tensors and labels (recorded by data_prep when it made it)."""
    if "fingerprint" in splits.info:
        return splits.info["fingerprint"]
    parts = (
        splits.x_train,
        splits.y_train,
        splits.x_val,
        splits.y_val,
        splits.x_test,
        splits.y_test,
    )
    return array_fingerprint(parts)


def check_model_input(
    splits: Splits, model_params: Mapping[str, Any], data_params: Mapping[str, Any] | None = None
) -> None:
    """A model_input prepared for other settings (left by an earlier run) stops here."""
    stale = None
    made_with = splits.info.get("data_settings")
    asked = resolved_data(data_params) if data_params is not None else None
    if asked is not None and made_with is not None and canonical(made_with) != canonical(asked):
        keys = settings_diff(made_with, asked)[:3]
        had = ", ".join(f"data.{k}={dotted_get(made_with, k)!r}" for k in keys)
        want = ", ".join(f"{dotted_get(asked, k)!r}" for k in keys)
        stale = f"was made with {had}, and this run asks for {want}"
    elif splits.kind == "features" and not caches_features(model_params):
        stale = "holds cached backbone features, but this model does not freeze its backbone"
    elif splits.kind in ("features", "text"):
        want, have = prepared_for(splits.kind, model_params), splits.info.get("prepared_for")
        if want != have:
            stale = f"was prepared for {have}, not {want}"
    if stale:
        raise ConfigError(
            f"model_input of {splits.name} {stale}: run data_prep again with the same --params "
            "(kedro run --pipelines=data_prep)"
        )


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
        "prepared_for": prepared_for("text", model_params),
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
        info={
            **splits.info,
            "prepared_for": prepared_for("features", model_params),
            "image_mean": splits.mean,
            "image_std": splits.std,
        },
    )


def prepare_model_input(
    splits: Splits,
    model_params: Mapping[str, Any],
    data_params: Mapping[str, Any],
    train_params: Mapping[str, Any],
) -> Splits:
    """Splits -> model input, which records the data settings that made it and its fingerprint."""
    if splits.kind == "text":
        splits = tokenize_splits(splits, model_params, int(data_params.get("max_length", 64)))
    elif splits.kind == "image" and caches_features(model_params):
        splits = backbone_features(
            splits,
            model_params,
            train_params.get("device", "auto"),
            min(int(train_params.get("eval_batch_size", 256)), 256),
            bool(train_params.get("amp", False)),
        )
    info = {k: v for k, v in splits.info.items() if k != "fingerprint"}
    splits = replace(splits, info={**info, "data_settings": resolved_data(data_params)})
    return replace(splits, info={**splits.info, "fingerprint": data_fingerprint(splits)})
