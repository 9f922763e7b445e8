"""The GEMM bound (measure.speed) and benchmarks/train_throughput.py, on tiny sizes."""

import importlib.util
import json

import pytest
import torch
from torch import nn

from nonlinearity.measure.speed import Gemm, gemm_seconds, training_gemms
from nonlinearity.models import MLPConfig, build_mlp
from tests.conftest import REPO


def test_training_gemms_are_those_autograd_runs():
    model = build_mlp(MLPConfig(in_features=12, num_classes=3, hidden_sizes=[8, 5]))
    gemms = training_gemms(model, torch.zeros(4, 1, 3, 4))
    assert [(g.layer, g.op, g.m, g.k, g.n) for g in gemms] == [
        ("fc0", "forward", 4, 12, 8),  # no grad_input: the first layer's input is data
        ("fc0", "grad_weight", 8, 4, 12),
        ("fc1", "forward", 4, 8, 5),
        ("fc1", "grad_input", 4, 5, 8),
        ("fc1", "grad_weight", 5, 4, 8),
        ("out", "forward", 4, 5, 3),
        ("out", "grad_input", 4, 3, 5),
        ("out", "grad_weight", 3, 4, 5),
    ]
    assert sum(g.flops for g in gemms) == 3 * 2 * 4 * (12 * 8 + 8 * 5 + 5 * 3) - 2 * 4 * 12 * 8
    model.fc0.requires_grad_(False)  # frozen: no grad_weight; fc1's input then needs none
    ops = [(g.layer, g.op) for g in training_gemms(model, torch.zeros(4, 12))]
    assert ("fc0", "grad_weight") not in ops and ("fc1", "grad_input") not in ops


def test_gemms_count_every_call_and_leading_dims_as_rows():
    layer = nn.Linear(6, 7)
    model = nn.Sequential(layer, nn.ReLU(), nn.Linear(7, 6), layer)  # `layer` called twice
    gemms = training_gemms(model, torch.zeros(2, 3, 6))
    assert [g.m for g in gemms if g.op == "forward"] == [6, 6, 6]
    assert [g.layer for g in gemms if g.op == "forward"] == ["0", "2", "0"]


def test_gemm_seconds_times_each_gemm_in_its_layout():
    gemms = [
        Gemm("a", "forward", 8, 4, 6, b_transposed=True),
        Gemm("a", "grad_weight", 6, 8, 4, True),
    ]
    times = gemm_seconds(gemms, torch.device("cpu"), repeats=3, block_s=0.001)
    assert [len(t) for t in times] == [3, 3] and all(s > 0 for t in times for s in t)


@pytest.fixture(scope="module")
def script():
    threads = torch.get_num_threads()  # the script sets --threads for this process
    spec = importlib.util.spec_from_file_location(
        "train_throughput", REPO / "benchmarks" / "train_throughput.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    torch.set_num_threads(threads)


TINY = ["--samples", "128", "--val-samples", "32", "--rounds", "2", "--batch-sizes", "64"]
TINY += ["--device", "cpu", "--threads", "1", "--clock", "cpu", "--no-torchvision"]
TINY += ["--gemm-repeats", "2"]


def test_the_benchmark_runs_on_cpu_under_its_bound(script, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert script.main([*TINY, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "no GPU: GPU figures not measured" in text and "threads" in text
    assert "| project loop, gated (l1 + entropy) | 64 |" in text
    assert "batch 128" not in text  # no targets for a batch size the issue sets none for
    result = json.loads(out.read_text())
    (res,) = result["results"]
    assert set(res["rates"]) == {"plain", "plain-default-adam", "relu", "mixed", "gated"}
    assert all(len(r) == 2 for r in res["rates"].values())
    assert all(max(r) <= res["bound"] for r in res["rates"].values())
    assert len(res["gemms"]) == 11 and all(len(g["seconds"]) == 4 for g in res["gemms"])
    assert result["command"].startswith("python benchmarks/train_throughput.py --samples 128")
    with pytest.raises(SystemExit):  # CPU time is one thread's
        script.main([*TINY[:-2], "--threads", "2", "--out", str(out)])


def test_a_row_above_the_bound_stops_the_script(script, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert script.main([*TINY, "--bound-scale", "1e-6", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "the GEMM bound is wrong, a measured row beat it" in captured.err
    assert "plain loop (Adam foreach, as fit) at batch 64 ran at" in captured.err
    assert "| method |" not in captured.out and not out.exists()  # no table, no result
