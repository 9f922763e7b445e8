"""ResNet heads and backbones, the transformer FFN, and what ties them to their data."""

import pytest
import torch
from torch import nn

from nonlinearity.data import load_raw, make_splits, to_device
from nonlinearity.data.prepare import prepare_model_input
from nonlinearity.data.splits import crop_flip
from nonlinearity.errors import ConfigError
from nonlinearity.layers.apply import Approach, apply_approach, find_activation_sites, spread
from nonlinearity.models import build_model, check_model, resolve_target, untie_activations
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import load_model, train_run
from nonlinearity.training.loop import evaluate_metrics
from tests.conftest import TINY_MEASURE

RESNET = {"name": "resnet18_head", "head_hidden": [16], "stem": "imagenet"}
TRAIN = {"epochs": 1, "batch_size": 32, "lr": 1e-3, "device": "cpu", "optimizer": "adam"}


# --- augmentation and metrics ----------------------------------------------------------


def test_crop_flip_is_a_padded_crop_or_its_mirror():
    x = torch.randn(16, 2, 5, 6)
    out = crop_flip(padding=2)(x, torch.Generator().manual_seed(0))
    padded = nn.functional.pad(x, (2, 2, 2, 2))
    flips = 0
    for i in range(16):
        crops = {
            (dy, dx, f): padded[i, :, dy : dy + 5, dx : dx + 6].flip(-1) if f else None
            for dy in range(5)
            for dx in range(5)
            for f in (False, True)
        }
        match = [
            k
            for k in crops
            if torch.equal(
                out[i],
                padded[i, :, k[0] : k[0] + 5, k[1] : k[1] + 6].flip(-1)
                if k[2]
                else padded[i, :, k[0] : k[0] + 5, k[1] : k[1] + 6],
            )
        ]
        assert match, i
        flips += match[0][2]
    assert 0 < flips < 16  # both kinds occur


def test_crop_flip_without_padding_only_mirrors():
    x = torch.randn(32, 3, 4, 4)
    out = crop_flip(padding=0)(x, torch.Generator().manual_seed(1))
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all() and same.any() and mirrored.any()


def test_top5_counts_a_label_among_the_five_highest_logits():
    logits = torch.tensor(
        [
            [9.0, 8, 7, 6, 5, 4],  # label 0: top-1
            [9.0, 8, 7, 6, 5, 4],  # label 4: top-5, not top-1
            [9.0, 8, 7, 6, 5, 4],  # label 5: neither
            [0.0, 1, 2, 3, 4, 5],  # label 5: top-1
        ]
    )
    y = torch.tensor([0, 4, 5, 5])
    model = nn.Identity()
    m = evaluate_metrics(model, logits, y, batch_size=3, topk=(1, 5))
    assert m["acc"] == 0.5 and m["top5"] == 0.75
    expected = nn.functional.cross_entropy(logits, y).item()
    assert m["loss"] == pytest.approx(expected)


def test_ramp_spreads_linearly_over_depth():
    assert spread((0.2, 0.8), 4) == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert spread((0.0, 1.0, 0.0), 5) == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])
    assert spread((0.2, 0.8), 1) == [0.5]  # one layer: the ramp's mean


# --- ResNets ---------------------------------------------------------------------------------


def test_untied_backbone_has_one_module_per_relu_call_and_same_outputs():
    from torchvision.models import resnet18

    torch.manual_seed(0)
    net = resnet18().eval()
    untied = untie_activations(net).eval()
    relus = [n for n, m in untied.named_modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 17  # stem + 2 per basic block x 8
    assert "layer1.0.relu" in relus and "layer1.0.relu_1" in relus
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(untied(x), net(x), rtol=0, atol=0)


@pytest.mark.parametrize(("target", "sites"), [("head", 1), ("backbone", 17), ("all", 18)])
def test_resnet_head_targets(target, sites):
    model = build_model({**RESNET, "target": target}, (3, 32, 32), 10, "image")
    found = find_activation_sites(model, torch.zeros(2, 3, 32, 32), resolve_target(model, target))
    assert len(found) == sites
    conv = [s for s in found if s.name.startswith("backbone.")]
    assert all(s.neuron_dim == 1 for s in conv)  # per channel
    if target != "head":
        assert sum(s.num_features for s in conv) == 64 + 2 * (64 * 2 + 128 * 2 + 256 * 2 + 512 * 2)


def test_backbone_linearised_per_channel():
    model = build_model({**RESNET, "target": "backbone"}, (3, 32, 32), 10, "image").eval()
    apply_approach(
        model, Approach("fixed", ratio=1.0, target="backbone.*"), torch.zeros(2, 3, 32, 32)
    )
    stem = model.backbone.relu
    z = torch.randn(1, 64, 4, 4)
    torch.testing.assert_close(stem(z), z)  # every channel linear


def test_cifar_stem_keeps_32x32_detail():
    model = build_model({**RESNET, "stem": "auto"}, (3, 32, 32), 10, "image")
    assert model.backbone.conv1.kernel_size == (3, 3)
    assert isinstance(model.backbone.maxpool, nn.Identity)


def test_pretrained_weights_offline_one_line(monkeypatch, tmp_path):
    import urllib.request

    from nonlinearity.errors import DataUnavailableError

    def fail(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(DataUnavailableError) as info:
        build_model({**RESNET, "pretrained": True}, (3, 32, 32), 10, "image")
    message = str(info.value)
    assert "\n" not in message and "pretrained: false" in message


@pytest.fixture(scope="module")
def digits32_small():
    raw = load_raw("digits32", "unused")
    return make_splits(raw, 0.2, 0.2, seed=0, data_params={"per_class": 12})


def test_frozen_backbone_features_are_cached_and_the_model_runs_on_images(digits32_small, tmp_path):
    model_params = {**RESNET, "freeze_backbone": True, "target": "head"}
    prepared = prepare_model_input(digits32_small, model_params, {}, TRAIN)
    assert prepared.kind == "features" and prepared.x_train.shape[1] == 512
    assert prepared.model_input_shape == (3, 32, 32)
    record = train_run(
        prepared, model_params, TRAIN, RunSpec("fixed", ratio=0.5), None, TINY_MEASURE
    )
    meta, store = record.meta, RunStore(tmp_path)
    store.save(record)
    model = load_model(store, record.name)  # backbone + head, rebuilt from the stored weights
    assert meta["config"]["data"]["cached_features"] == [512]
    backbone_channels = 64 + 2 * (64 * 2 + 128 * 2 + 256 * 2 + 512 * 2)
    assert meta["nonlinear_units"] == backbone_channels + 8  # half of the 16 head units
    images = to_device(digits32_small, "cpu", augment=False)
    model.eval()
    with torch.no_grad():  # the saved model reads images: backbone then the trained head
        direct = model(images.x_test)
        cached = model.head(prepared.x_test)
    torch.testing.assert_close(direct, cached, rtol=1e-4, atol=1e-4)
    # the run's test accuracy is the whole model's on the images
    acc = (direct.argmax(1) == images.y_test).float().mean().item()
    assert meta["metrics"]["test_acc"] == pytest.approx(acc)


def test_stale_model_input_stops_the_run(digits32_small):
    frozen = {**RESNET, "freeze_backbone": True, "target": "head"}
    prepared = prepare_model_input(digits32_small, frozen, {}, TRAIN)
    with pytest.raises(ConfigError, match="run data_prep again"):
        train_run(prepared, {**frozen, "target": "all"}, TRAIN, RunSpec("fixed"), None)
    with pytest.raises(ConfigError, match="run data_prep again"):
        train_run(prepared, {**frozen, "stem": "cifar"}, TRAIN, RunSpec("fixed"), None)


@pytest.mark.parametrize(
    ("model", "kind", "message"),
    [
        ("resnet18_head", "tabular", "model 'resnet18_head' reads image data, but data set"),
        ("transformer", "image", "models for it: mlp, resnet18_head, resnet50_head"),
        ("mlp", "text", "models for it: transformer"),
    ],
)
def test_model_that_cannot_read_the_data_one_line(model, kind, message):
    with pytest.raises(ConfigError, match=message) as info:
        check_model({"name": model}, kind, "some_data")
    assert "\n" not in str(info.value)


# --- transformer FFN ---------------------------------------------------------------------------

TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "intermediate_size": 48,
    "max_position_embeddings": 32,
}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A randomly initialised BERT and a word-level tokenizer written here (no download)."""
    from transformers import BertTokenizerFast

    from nonlinearity.data.sources import synthetic_sentiment

    x, _ = synthetic_sentiment(400)
    words = sorted({w for s in x for w in s.split()})
    folder = tmp_path_factory.mktemp("tokenizer")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(str(folder))
    config = {**TINY_BERT, "vocab_size": len(vocab)}
    return {"name": "transformer", "config": config, "tokenizer": str(folder), "target": "ffn"}


def test_transformer_ffn_sites_one_per_layer(tiny_bert):
    model = build_model(tiny_bert, (12,), 2, "text")
    sites = find_activation_sites(
        model, torch.ones(2, 12, dtype=torch.long), resolve_target(model, "ffn")
    )
    assert [s.num_features for s in sites] == [48, 48, 48]
    assert [s.name.split(".")[4] for s in sites] == ["0", "1", "2"]  # layer order
    assert all(isinstance(s.module, nn.GELU) for s in sites)


def test_padding_does_not_change_the_logits(tiny_bert):
    model = build_model(tiny_bert, (12,), 2, "text").eval()
    ids = torch.tensor([[2, 7, 8, 9, 3]])
    padded = torch.cat([ids, torch.zeros(1, 7, dtype=torch.long)], 1)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), model(padded), rtol=1e-5, atol=1e-5)


def test_gated_transformer_run_records_gates_per_layer(tiny_bert):
    raw = load_raw("sentiment_synthetic", "unused")
    splits = make_splits(raw, 0.1, 0.1, seed=0)
    splits = prepare_model_input(splits, tiny_bert, {"max_length": 16}, TRAIN)
    assert splits.x_train.dtype == torch.int64 and splits.x_train.shape[1] == 16
    assert splits.info["truncated_share"] == 0.0
    assert (splits.x_train == 1).sum() == 0  # no [UNK]: the tokenizer is the one written here
    gates = {"l1": 1e-3, "harden_budget": 0.5, "finetune_epochs": 0}
    train = {**TRAIN, "epochs": 3, "lr": 2e-3, "optimizer": "adamw"}
    record = train_run(
        splits, tiny_bert, train, RunSpec("gating", variant="t"), gates, TINY_MEASURE
    )
    history, meta = record.history, record.meta
    assert meta["config"]["data"]["kind"] == "text" and meta["config"]["data"]["synthetic"]
    assert meta["nonlinear_units"] == pytest.approx(0.5 * 3 * 48, abs=3)
    layers = history[0]["gating"]
    assert len(layers) == 3 and all(s["num_features"] == 48 for s in layers)
    assert history[-1]["epoch"] == "hardened" and history[-1]["linear_ratio"] == 0.5
    assert meta["metrics"]["val_acc"] > 0.6  # three epochs learn the templates
