"""Sites after the attention projections (`model.attention`): linear until an approach
swaps them, so the pretrained function is unchanged; kinds reach the layer stats."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from nonlinearity.data import load_raw, make_splits
from nonlinearity.data.prepare import prepare_model_input
from nonlinearity.data.sources import synthetic_sentiment
from nonlinearity.errors import ConfigError
from nonlinearity.layers import GatedActivation
from nonlinearity.layers.apply import Approach, apply_approach, find_activation_sites, layer_stats
from nonlinearity.models import build_model, model_config, model_settings, resolve_target
from nonlinearity.models.transformer import site_kind
from nonlinearity.run.fingerprint import fingerprint
from nonlinearity.run.spec import RunSpec
from nonlinearity.run.store import RunStore
from nonlinearity.run.train import load_model, train_run
from tests.conftest import TINY_MEASURE

TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "intermediate_size": 48,
    "max_position_embeddings": 32,
    "vocab_size": 40,
}
BERT = {"name": "transformer", "config": TINY}
ALL = ["query", "key", "value", "output"]
IDS = torch.randint(5, 40, (4, 12), generator=torch.Generator().manual_seed(0))


def built(params: dict, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(params, (12,), 2, "text").eval()


def logits(model: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(IDS)


def test_default_settings_keep_the_fingerprint_of_runs_made_before_the_option():
    # fingerprint(asdict(model_config(p))) at 1a30f8c, before `attention` existed
    before = {
        "1a80ffe94a149d9ecd6c27efd2758fb77f6c021d1f1750a1be0ceca352be93ee": {
            "name": "transformer",
            "checkpoint": "minilm",
        },
        "c759db8a10c8c3d7795cb4e7df487d0b5ac3433c3111b1a489993b1b92a48d3f": {
            **BERT,
            "target": "ffn",
        },
    }
    for fp, params in before.items():
        assert fingerprint(model_settings(params)) == fp
        assert fingerprint(model_settings({**params, "attention": []})) == fp
    assert model_settings({**BERT, "attention": ["value", "query"]})["attention"] == [
        "query",
        "value",
    ]  # one order, one fingerprint


def test_default_model_is_the_transformers_model_with_its_keys_and_outputs():
    from transformers import AutoModelForSequenceClassification, BertConfig

    torch.manual_seed(0)
    hf = AutoModelForSequenceClassification.from_config(BertConfig(**TINY, num_labels=2)).eval()
    ours = built(BERT)
    assert list(ours.state_dict()) == [f"model.{k}" for k in hf.state_dict()]
    mask = (IDS != 0).long()
    with torch.no_grad():
        assert torch.equal(logits(ours), hf(input_ids=IDS, attention_mask=mask).logits)


def test_inserted_sites_keep_the_pretrained_keys_and_function_exactly():
    plain, inserted = built(BERT), built({**BERT, "attention": ALL})
    old, new = plain.state_dict(), inserted.state_dict()
    assert set(old) <= set(new)
    assert all(k.endswith(".act.nonlinear_mask") for k in set(new) - set(old))
    assert all(torch.equal(old[k], new[k]) for k in old)
    assert torch.equal(logits(inserted), logits(plain))
    # pretrained weights load by name; only the sites' masks are not in them
    fresh = built({**BERT, "attention": ALL}, seed=1)
    missing, unexpected = fresh.load_state_dict(old, strict=False)
    assert not unexpected and all(k.endswith(".act.nonlinear_mask") for k in missing)
    assert torch.equal(logits(fresh), logits(plain))


def test_ratio_1_on_inserted_sites_and_ratio_0_on_the_ffn_is_the_pretrained_model():
    plain, model = built(BERT), built({**BERT, "attention": ALL})
    sites = find_activation_sites(model, IDS)
    schedule = {s.index: 0.0 if site_kind(s.name) == "ffn" else 1.0 for s in sites}
    apply_approach(model, Approach(kind="layerwise", schedule=schedule), IDS)
    assert torch.equal(logits(model), logits(plain))
    apply_approach(model, Approach(kind="fixed", ratio=0.0), IDS)  # every site nonlinear
    assert not torch.allclose(logits(model), logits(plain))


def test_hardened_gates_linear_on_inserted_sites_give_the_pretrained_logits():
    plain, model = built(BERT), built({**BERT, "attention": ["query", "output"]})
    apply_approach(model, Approach(kind="gating", init_alpha=0.9), IDS)
    for name, g in model.named_modules():
        if isinstance(g, GatedActivation):
            g.harden(budget=g.num_features if site_kind(name) == "ffn" else 0)
    assert torch.equal(logits(model), logits(plain))


def test_sites_per_layer_and_kind_and_where_gates_start():
    model = built({**BERT, "attention": ["output", "query"]})
    sites = find_activation_sites(model, IDS)
    kinds = [site_kind(s.name) for s in sites]
    assert kinds == ["query", "output", "ffn"] * 3  # forward order within each layer
    assert [s.name.split(".")[4] for s in sites] == [str(i) for i in range(3) for _ in "qof"]
    assert [s.num_features for s in sites] == [32, 32, 48] * 3
    assert sites[0].name == "model.bert.encoder.layer.0.attention.self.query.act"
    assert sites[1].name == "model.bert.encoder.layer.0.attention.output.dense.act"
    inserted = find_activation_sites(model, IDS, resolve_target(model, "attention"))
    assert [s.name for s in inserted] == [s.name for s in sites if site_kind(s.name) != "ffn"]
    ffn = find_activation_sites(model, IDS, resolve_target(model, "ffn"))
    assert [s.name for s in ffn] == [s.name for s in sites if site_kind(s.name) == "ffn"]
    apply_approach(model, Approach(kind="gating", init_alpha=0.8), IDS)
    rows = layer_stats(model)
    assert [r["kind"] for r in rows] == kinds
    for r in rows:  # near the model's own function: ffn nonlinear, inserted linear
        assert r["alpha_mean"] == pytest.approx(0.8 if r["kind"] == "ffn" else 0.2)


def test_models_without_kinds_keep_their_rows():
    mlp = build_model({"name": "mlp", "hidden_sizes": [8]}, (4,), 2)
    apply_approach(mlp, Approach(kind="gating"), torch.zeros(2, 4))
    assert "kind" not in layer_stats(mlp)[0]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"attention": ["qurey"]}, "model.attention[0] 'qurey' is unknown; valid: query, key,"),
        ({"attention": ["key", "key"]}, "model.attention names 'key' twice"),
        ({"attention": ["key"], "target": "ffn"}, "model.target 'ffn' leaves out the sites"),
    ],
)
def test_bad_attention_settings_stop_with_one_line(params, message):
    with pytest.raises(ConfigError) as info:
        model_config({**BERT, **params})
        built({**BERT, **params})
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory):
    """Synthetic sentences, a word-level tokenizer written here, and a tiny BERT over it."""
    from transformers import BertTokenizerFast

    raw = load_raw("sentiment_synthetic", "unused")
    raw = replace(raw, x_train=raw.x_train[:480], y_train=raw.y_train[:480])  # a few seconds
    x, _ = synthetic_sentiment(400)
    words = sorted({w for s in x for w in s.split()})
    folder = tmp_path_factory.mktemp("tokenizer")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(str(folder))
    params = {
        "name": "transformer",
        "config": {**TINY, "vocab_size": len(vocab)},
        "tokenizer": str(folder),
        "attention": ["query", "value"],
    }
    splits = make_splits(raw, 0.1, 0.1, seed=0)
    train = {"epochs": 2, "batch_size": 16, "lr": 2e-3, "optimizer": "adamw", "device": "cpu"}
    return prepare_model_input(splits, params, {"max_length": 16}, train), params, train


def test_gated_run_with_attention_sites_trains_and_records_kinds(tiny_text, tmp_path):
    splits, params, train = tiny_text
    store = RunStore(tmp_path)
    gates = {"l1": 0.0, "finetune_epochs": 0, "temperature_end": 0.5}
    record = train_run(splits, params, train, RunSpec("gating", variant="a"), gates, TINY_MEASURE)
    first, last = record.history[0]["gating"], record.history[-1]["gating"]
    assert [r["kind"] for r in first] == ["query", "value", "ffn"] * 3
    assert last[0]["kind"] == "query" and record.history[-1]["epoch"] == "hardened"
    query = record.weights["model.bert.encoder.layer.0.attention.self.query.act.logit"]
    assert query.shape == (32,) and query.std() > 1e-3  # they started equal: they learned
    assert len(record.meta["gates_before_hardening"]) == 9
    assert record.meta["config"]["model"]["attention"] == ["query", "value"]
    store.save(record)
    model = load_model(store, record.name)
    again = layer_stats(model)
    assert [r["kind"] for r in again] == [r["kind"] for r in last]
    assert [r["alpha_mean"] for r in again] == [r["alpha_mean"] for r in last]
    with torch.no_grad():
        stored = model(splits.x_test[:8])
    assert stored.shape == (8, 2) and torch.isfinite(stored).all()
