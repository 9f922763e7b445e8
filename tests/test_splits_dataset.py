"""The model input on disk: safetensors + JSON, the same Splits back, no pickle."""

import torch

from nonlinearity.data.prepare import prepare_model_input
from nonlinearity.io import ModelInputsDataset, SplitsDataset


def _same(a, b):
    for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(torch.as_tensor(getattr(a, k)), getattr(b, k)), k
    for k in ("name", "mean", "std", "num_classes", "kind", "topk", "augment", "info"):
        assert getattr(a, k) == getattr(b, k), k


def test_image_splits_round_trip(digits_splits, tmp_path):
    prepared = prepare_model_input(digits_splits, {"name": "mlp"}, {"split_seed": 0}, {})
    ds = SplitsDataset(str(tmp_path / "digits"))
    ds.save(prepared)
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == [
        "splits.json",
        "tensors.safetensors",
    ]
    _same(prepared, ds.load())
    ds.save(prepared)  # replaced whole, no leftovers beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits"]
    assert set(ModelInputsDataset(str(tmp_path)).load()) == {"digits"}


def test_cached_features_keep_their_backbone(tmp_path):
    from nonlinearity.data import load_raw, make_splits

    raw = load_raw("digits32", "unused")
    splits = make_splits(raw, 0.2, 0.2, seed=0, data_params={"per_class": 12})
    params = {
        "name": "resnet18_head",
        "stem": "imagenet",
        "freeze_backbone": True,
        "target": "head",
    }
    prepared = prepare_model_input(splits, params, {}, {"device": "cpu"})
    ds = SplitsDataset(str(tmp_path / "digits32"))
    ds.save(prepared)
    back = ds.load()
    _same(prepared, back)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(back.backbone(x), prepared.backbone.eval()(x))
