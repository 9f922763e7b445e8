"""Reporting on synthetic sweeps whose true answer is known: the sentences it must make
and the ones it must never make (issue: answers you can quote).

Each run's test accuracy is a set mean plus seeded noise of a set spread; benchmark rounds
are drawn from set time ratios with set noise. The report's claims are then checked
against what the numbers truly are.
"""

import json
import logging

import numpy as np
import pandas as pd
import pytest

from nonlinearity.params import ReportingConfig
from nonlinearity.reporting import (
    build_report,
    collect_runs,
    cross_architecture,
    efficiency_ranking,
    findings,
    layer_rows,
    summary_table,
)
from nonlinearity.run.name import format_name

N_TEST = 360  # digits' test split: one sample = 0.28 %


def name(key: str, dataset: str = "digits") -> str:
    return format_name(dataset, "mlp", key, "0" * 64)


def record(
    key: str,
    approach: str,
    acc: float,
    ratio: float,
    seed: int,
    *,
    dataset: str = "digits",
    epochs: int = 4,
    gap: float = 0.0,
    soft_alphas: list[float] | None = None,
    hard_alphas: list[float] | None = None,
    **config,
) -> dict:
    """One run's history and meta, as the pipelines write them."""
    alphas = hard_alphas or [1 - ratio] * 3
    layers = [
        {"layer": i, "name": f"act{i}", "num_features": 100, "alpha_mean": a}
        for i, a in enumerate(alphas)
    ]
    history = []
    for e in range(1, epochs + 1):
        val = acc * min(1.0, 0.8 + 0.1 * e)  # converges by epoch 2
        g = layers
        if soft_alphas is not None:
            g = [{**x, "alpha_mean": s} for x, s in zip(layers, soft_alphas, strict=True)]
        history.append(
            {
                "epoch": e,
                "phase": "train",
                "train_acc": val + gap,
                "val_acc": val,
                "train_loss": 0.1,
                "gating": g,
            }
        )
    if approach == "gating":
        history.insert(
            epochs - 1,
            {"epoch": "hardened", "phase": "hardened", "val_acc": acc, "gating": layers},
        )
    fp = f"{key}-{dataset}-fingerprint"
    meta = {
        "status": "complete",
        "fingerprint": fp,
        "metrics": {"val_acc": acc, "test_acc": acc, "linear_ratio": ratio},
        "config": {
            "dataset": dataset,
            "model": {"name": "mlp"},
            "approach": approach,
            "seed": seed,
            "linear_ratio": ratio if approach == "fixed" else None,
            "pattern": "random",
            "data": {"synthetic": False, "sizes": {"test": N_TEST}},
            **config,
        },
    }
    return {"history": history, "meta": meta}


def sweep(
    means: dict[float, float],
    sd: float,
    seeds: int,
    rng: np.random.Generator,
    dataset: str = "digits",
    gap: dict[float, float] | None = None,
) -> dict[str, dict]:
    """Fixed runs: test accuracy = means[ratio] + N(0, sd), rounded to whole test samples;
    a list of means gives each seed's accuracy exactly."""
    runs = {}
    for ratio, mean in means.items():
        for s in range(seeds):
            if isinstance(mean, list):
                acc = mean[s]
            else:
                acc = round((mean + (rng.normal(0, sd) if sd else 0.0)) * N_TEST) / N_TEST
            key = f"fixed_{round(100 * ratio)}_s{s}"
            runs[name(key, dataset)] = record(
                key, "fixed", acc, ratio, s, dataset=dataset, gap=(gap or {}).get(ratio, 0.0)
            )
    return runs


def benchmark(runs: dict, ratios: dict[str, float], noise: float, rng, rounds: int = 10):
    """Interleaved rounds for every run: its time = ratio × its baseline's, times noise."""
    for run, rec in runs.items():
        key = run.split("_", 2)[2].rsplit("_", 1)[0]
        seed = rec["meta"]["config"]["seed"]
        dataset = rec["meta"]["config"]["dataset"]
        base = name(f"fixed_0_s{seed}", dataset)
        b = 1e-3 * (1 + noise * rng.standard_normal(rounds)).clip(0.2)
        entry = {
            "rounds_s": list(
                b
                * ratios.get(key.rsplit("_s", 1)[0], 1.0)
                * (1 + noise * rng.standard_normal(rounds)).clip(0.2)
            ),
            "baseline": base,
            "baseline_fingerprint": runs[base]["meta"]["fingerprint"],
            "baseline_rounds_s": list(b),
            "device": "cpu",
            "threads": 2,
        }
        rec["meta"]["benchmark"] = {"interleaved": {"256": entry}}


def report_of(runs: dict, **judgement):
    summary = summary_table(runs)
    layers = layer_rows(runs)
    f = findings(summary, layers, runs, ReportingConfig(**judgement))
    json.dumps(f, allow_nan=False)  # findings.json is strict JSON
    ranking = efficiency_ranking(pd.DataFrame(f["latency"]), summary)
    cross = cross_architecture(summary, pd.DataFrame(f["drops"]))
    return f, build_report(f, summary, cross, ranking, layers)


def claim(f: dict, kind: str, setting: str = "digits · mlp") -> dict:
    (c,) = [c for c in f["claims"] if c["kind"] == kind and c["setting"] == setting]
    return c


def test_a_drop_known_to_be_small_is_within_tolerance_and_the_next_one_beyond():
    rng = np.random.default_rng(0)
    runs = sweep({0.0: 0.97, 0.5: 0.968, 0.75: 0.90}, sd=0.002, seeds=5, rng=rng)
    f, text = report_of(runs)
    c = claim(f, "threshold")
    assert c["verdict"] == "within tolerance"
    assert c["numbers"]["label"] == "fixed 50%"
    assert c["numbers"]["drop_high"] <= 0.01 and c["numbers"]["drop_n"] == 5
    assert "50 % of the activation neurons nonlinear (fixed 50%)" in c["sentence"]
    assert "95 % CI" in c["sentence"] and "one test sample = 0.28 %" in c["sentence"]
    assert "At 75 % linear (fixed 75%)" in c["sentence"] and "beyond the tolerance" in c["sentence"]
    assert c["sentence"] in text
    assert c["test"]["method"].startswith("paired differences")


def test_one_seed_never_claims_within_tolerance():
    runs = sweep({0.0: 0.97, 0.5: 0.97, 1.0: 0.97}, sd=0.0, seeds=1, rng=None)
    f, text = report_of(runs)
    c = claim(f, "threshold")
    assert c["verdict"] == "cannot tell"
    assert "run ≥ 3 seeds" in c["sentence"]
    assert "within tolerance" not in " ".join(x["verdict"] for x in f["drops"])
    assert "a linear model" not in text.lower() and "a fully linear model" not in text


def test_a_wide_interval_cannot_tell_and_says_how_many_seeds_would():
    # paired drops of 5, 1 and −3 test samples: mean 0.28 %, sd 1.11 %
    base, half = [342 / N_TEST] * 3, [337 / N_TEST, 341 / N_TEST, 345 / N_TEST]
    f, _ = report_of(sweep({0.0: base, 0.5: half}, sd=0, seeds=3, rng=None))
    c = claim(f, "threshold")
    n = c["numbers"]
    assert c["verdict"] == "cannot tell", n
    assert n["drop_low"] < 0.01 < n["drop_high"]
    assert n["seeds_needed"] > 3 and f"about {n['seeds_needed']} seeds would tell" in c["sentence"]


def test_noise_only_latency_claims_no_speed_up_and_a_real_one_is_found():
    rng = np.random.default_rng(1)
    runs = sweep({0.0: 0.97, 0.5: 0.96}, sd=0.003, seeds=3, rng=rng)
    benchmark(runs, {"fixed_0": 1.0, "fixed_50": 1.0}, noise=0.25, rng=rng)
    f, text = report_of(runs)
    c = claim(f, "speed")
    assert c["verdict"] == "no measurable difference"
    (row,) = c["numbers"]["unfolded"]
    assert row["ratio_low"] < 1 < row["ratio_high"] and row["ratio_n"] == 30
    assert "faster" not in c["sentence"] and "slower" not in c["sentence"]
    summary_lines = [x for x in text.split("## 2.")[0].splitlines() if x.startswith("- ")]
    assert not [x for x in summary_lines if "faster" in x or "slower" in x]

    runs = sweep({0.0: 0.97, 0.5: 0.96}, sd=0.003, seeds=3, rng=rng)
    benchmark(runs, {"fixed_0": 1.0, "fixed_50": 0.5}, noise=0.05, rng=rng)
    c = claim(report_of(runs)[0], "speed")
    assert c["verdict"] == "faster"
    assert c["numbers"]["unfolded"][0]["ratio_high"] < 1


def test_without_the_benchmark_latency_is_not_measured_and_nothing_is_ranked():
    runs = sweep({0.0: 0.97, 0.5: 0.96}, sd=0.003, seeds=3, rng=np.random.default_rng(2))
    for rec in runs.values():  # a lone timing right after training is not a measurement
        rec["meta"]["latency"] = {"p50_latency_s": 1e-3, "batch_size": 256}
    f, text = report_of(runs)
    assert claim(f, "speed")["verdict"] == "not measured"
    assert "latency was not measured" in claim(f, "speed")["sentence"]
    assert "Latency was not measured" in text and "Efficiency ranking" not in text


def test_latency_against_a_retrained_baseline_is_not_used():
    rng = np.random.default_rng(4)
    runs = sweep({0.0: 0.97, 0.5: 0.96}, sd=0.003, seeds=2, rng=rng)
    benchmark(runs, {"fixed_50": 0.5}, noise=0.01, rng=rng)
    runs[name("fixed_0_s0")]["meta"]["fingerprint"] = "retrained"
    f, text = report_of(runs)
    assert set(f["latency_stale_runs"]) == {name("fixed_0_s0"), name("fixed_50_s0")}
    (row,) = [r for r in f["latency"] if r["label"] == "fixed 50%"]
    assert row["runs"] == 1  # only seed 1 is used
    assert "has since been retrained" in text


def test_gating_against_the_matched_fixed_run_is_paired_and_budgets_are_stated():
    rng = np.random.default_rng(5)
    runs = sweep({0.0: 0.97}, sd=0.002, seeds=3, rng=rng)
    for s in range(3):
        gated = name(f"gated-base_s{s}")
        runs[gated] = record(
            f"gated-base_s{s}",
            "gating",
            0.96 + 0.001 * s,
            0.6,
            s,
            variant="base",
            hard_alphas=[0.8, 0.4, 0.0],
            soft_alphas=[0.81, 0.41, 0.01],
        )
        runs[name(f"matched-base_s{s}")] = record(
            f"matched-base_s{s}",
            "matched",
            0.95 + 0.001 * s,
            0.6,
            s,
            source_run=gated,
        )
    f, text = report_of(runs)
    (c,) = [c for c in f["claims"] if c["kind"] == "gating_vs_fixed"]
    assert c["verdict"] == "higher"
    assert c["numbers"]["diff_mean"] == pytest.approx(0.01)
    assert "equal budget, 4 epochs each" in c["sentence"]
    items = {i["item"].split(" ")[0]: i for i in f["checklist"]}
    assert items["Hardening"]["verdict"] == "yes"
    assert items["Gating"]["verdict"] == "yes"  # α moved 0.01 over the soft epochs
    assert items["Layer-wise"]["verdict"] == "yes"  # the same shares in every seed
    assert "layer 0: 20 %" in text


def test_generalisation_gap_is_worded_by_sign_and_size():
    rng = np.random.default_rng(6)
    # the gap (train − val) goes from −0.4 pp to −10.5 pp: it widens, with val above train
    runs = sweep(
        {0.0: 0.97, 0.75: 0.96}, sd=0.002, seeds=3, rng=rng, gap={0.0: -0.004, 0.75: -0.105}
    )
    f, _ = report_of(runs)
    (row,) = [r for r in f["secondary"]["generalisation_gap"] if r["ratio"] == 0.75]
    assert row["words"] == "widens" and row["change_high"] < 0
    runs = sweep({0.0: 0.97, 0.75: 0.96}, sd=0.002, seeds=3, rng=rng, gap={0.0: 0.05, 0.75: 0.01})
    (row,) = [
        r for r in report_of(runs)[0]["secondary"]["generalisation_gap"] if r["ratio"] == 0.75
    ]
    assert row["words"] == "narrows"


def test_every_claim_holds_its_numbers_and_test_and_settings_are_never_averaged():
    rng = np.random.default_rng(7)
    runs = sweep({0.0: 0.97, 0.5: 0.968}, sd=0.002, seeds=3, rng=rng)
    runs |= sweep({0.0: 0.90, 0.5: 0.85}, sd=0.002, seeds=3, rng=rng, dataset="breast_cancer")
    f, text = report_of(runs)
    assert {c["setting"] for c in f["claims"]} == {"digits · mlp", "breast_cancer · mlp"}
    for c in f["claims"]:
        assert c["sentence"] and c["verdict"] and c["test"]
    assert claim(f, "threshold", "breast_cancer · mlp")["verdict"] == "beyond tolerance"
    (cross,) = [i for i in f["checklist"] if i["item"].startswith("Report includes")]
    assert cross["verdict"] == "yes"
    comp = {r["setting"]: r for r in f["secondary"]["complexity"]}
    assert comp["digits · mlp"]["largest_linear_share_within"] == 0.5
    assert comp["breast_cancer · mlp"]["largest_linear_share_within"] is None


def test_collect_skips_broken_runs_with_a_warning(caplog):
    def bad():
        raise json.JSONDecodeError("Expecting value", "", 0)

    good = sweep({0.0: 0.97}, sd=0.0, seeds=1, rng=None)
    (run,) = good
    parts = {
        f"{run}/history": lambda: good[run]["history"],
        f"{run}/meta": lambda: good[run]["meta"],
    }
    parts |= {"broken_run/history": lambda: [], "broken_run/meta": bad}
    with caplog.at_level(logging.WARNING):
        records = collect_runs(parts)
    assert list(records) == [run]
    assert "broken_run/meta.json: not valid JSON" in caplog.text


def _gated(l1, seed, dataset="digits", epochs=2):
    history = [{"epoch": 1, "train_acc": 0.9, "val_acc": 0.9, "gating": []}]
    settings = {
        "dataset": dataset,
        "data": {"split_seed": 0},
        "model": {"name": "mlp"},
        "training": {"epochs": epochs},
        "run": {"approach": "gating", "seed": seed, "variant": "base"},
        "gating": {"l1": l1},
    }
    config = {"dataset": dataset, "model": {"name": "mlp"}, "approach": "gating"}
    meta = {
        "status": "complete",
        "metrics": {"test_acc": 0.9, "val_acc": 0.9, "linear_ratio": 0.5},
        "settings": settings,
        "config": {**config, "variant": "base", "seed": seed},
    }
    return {"history": history, "meta": meta}


def test_runs_of_other_settings_are_never_averaged():
    """Seeds of one label must share every setting; settings of one data set and model
    must share data, model and training: otherwise they are reported apart, labelled."""
    s = summary_table(
        {
            "a": _gated(0.5, 0),
            "b": _gated(0.5, 1),
            "c": _gated(2.0, 0),  # another gate variant under the same name
            "d": _gated(0.5, 0, "breast_cancer"),  # another data set: its own setting
            "e": _gated(0.5, 0, epochs=8),  # other training: another setting
        }
    ).set_index("run")
    assert s.loc["a", "label"] == s.loc["b", "label"] == "gated base [gating.l1=0.5]"
    assert s.loc["c", "label"] == "gated base [gating.l1=2.0]"
    assert s.loc["d", "label"] == "gated base" and s.loc["d", "setting"] == "breast_cancer · mlp"
    assert s.loc["a", "setting"] == "digits · mlp [training.epochs=2]"
    assert s.loc["e", "setting"] == "digits · mlp [training.epochs=8]"
    assert s.loc["e", "label"] == "gated base"


def test_collect_leaves_out_runs_the_store_has_not_published():
    """On storage published by a marker, a run folder being written is listed by the
    catalog's `runs` but not by the store: the report leaves it out."""
    good = sweep({0.0: 0.97}, sd=0.0, seeds=1, rng=None)
    (run,) = good
    parts = {f"{run}/{f}": (lambda r=good[run][f]: r) for f in ("history", "meta")}
    parts |= {"half_run/history": lambda: [], "half_run/meta": lambda: {}}
    assert list(collect_runs(parts, published={run})) == [run]
    assert set(collect_runs(parts)) == {run, "half_run"}
