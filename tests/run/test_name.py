"""The run name grammar, both ways."""

import pytest

from nonlinearity.run.name import format_name, parse_name, pruned_key
from nonlinearity.run.spec import RunSpec

SPECS = [
    RunSpec("fixed", seed=0, ratio=0.5),
    RunSpec("fixed", seed=3, ratio=0.25, pattern="structured"),
    RunSpec("layerwise", seed=1, schedule_name="low_to_high", schedule=(0.2, 0.8)),
    RunSpec("gating", seed=2, variant="base"),
    RunSpec("matched", seed=1, variant="base"),
    RunSpec("matched", seed=0, variant="l1_2.0-strong"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
@pytest.mark.parametrize(
    ("dataset", "model"), [("digits", "mlp"), ("breast_cancer", "tabular_mlp")]
)
def test_format_then_parse(spec, dataset, model):
    name = format_name(dataset, model, spec.key, "0123456789abcdef")
    parsed = parse_name(name)
    assert str(parsed) == name and parsed.setup == f"{dataset}_{model}"
    assert parsed.key == spec.key and parsed.seed == spec.seed and parsed.digest == "c012345"
    assert parsed.approach == spec.approach and parsed.source_key == spec.source_key
    if spec.approach in ("gating", "matched"):
        assert parsed.variant == spec.variant
    if spec.approach == "fixed":
        assert parsed.ratio == spec.ratio and parsed.pattern == spec.pattern
    # the ratio is the only bare integer token (the guide's notebook reads it from there)
    bare = [t for t in name.split("_") if t.isdigit()]
    assert bare == ([str(round(100 * spec.ratio))] if spec.approach == "fixed" else [])


def test_pruned_names_carry_their_source_key():
    name = format_name("digits", "mlp", pruned_key("gated-base_s0"), "ffffff00")
    parsed = parse_name(name)
    assert name == "digits_mlp_pruned-gated-base_s0_cffffff"
    assert parsed.approach == "pruning" and parsed.source_key == "gated-base_s0"


def test_matched_names_carry_their_gated_run():
    spec = RunSpec("matched", seed=2, variant="base")
    assert spec.key == "matched-base_s2" and spec.source_key == "gated-base_s2"
    parsed = parse_name(format_name("digits", "mlp", spec.key, "abcdef12"))
    assert (parsed.approach, parsed.variant, parsed.seed) == ("matched", "base", 2)
    assert parsed.source_key == "gated-base_s2"
    pruned = parse_name(format_name("digits", "mlp", pruned_key(spec.key), "abcdef12"))
    assert pruned.approach == "pruning" and pruned.source_key == "matched-base_s2"


def test_the_digest_is_never_a_bare_integer():
    name = format_name("digits", "mlp", "fixed_50_s0", "123456")
    assert name == "digits_mlp_fixed_50_s0_c123456"
    assert parse_name(name).ratio == 0.5


@pytest.mark.parametrize("name", ["digits_mlp_fixed_50_s0", "digits_mlp_fixed_50_c123456", "x"])
def test_names_outside_the_grammar(name):
    with pytest.raises(ValueError, match="is not a run name"):
        parse_name(name)
