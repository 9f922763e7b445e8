"""The GPU data path on CPU: uint8 resident images, device augmentation, channels_last."""

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from nonlinearity.data import DeviceData, Splits, to_device
from nonlinearity.data.splits import crop_flip, crop_flip_at
from nonlinearity.training import TrainConfig, fit
from nonlinearity.training.loop import batch_inputs, use_channels_last
from tests.conftest import REPO

TRAIN = {"epochs": 2, "batch_size": 16, "lr": 0.05, "optimizer": "sgd", "device": "cpu"}


def image_splits(n: int = 48, seed: int = 0) -> Splits:
    """Tiny RGB images (N, 3, 8, 8) uint8 whose label is the brightest channel."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n + 16, 3, 8, 8), dtype=torch.uint8, generator=g)
    y = x.float().mean((2, 3)).argmax(1)
    return Splits(
        "tiny-rgb", x[:n], y[:n], x[n:], y[n:], x[n:], y[n:],
        [120.0, 128.0, 136.0], [70.0, 74.0, 78.0], 3, augment=True,
    )  # fmt: skip


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )


# --- the crop and flip ---------------------------------------------------------------


def test_a_crop_at_known_offsets_is_a_slice_of_the_padded_image():
    x = torch.randn(4, 3, 6, 7)
    dy, dx = torch.tensor([[0], [4], [2], [8]]), torch.tensor([[8], [0], [3], [4]])
    out = crop_flip_at(x, dy, dx, torch.zeros(4, 1, dtype=torch.bool), padding=4)
    padded = nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(4):
        a, b = int(dy[i]), int(dx[i])
        assert torch.equal(out[i], padded[i, :, a : a + 6, b : b + 7])
    assert torch.equal(out[2, :, 2:, 1:], x[2, :, :4, :6])  # (2, 3): shifted by (-2, -1)
    assert (out[0, :, :4] == 0).all() and (out[0, :, :, -4:] == 0).all()  # zero padding


def test_a_flip_without_shift_is_torch_flip():
    x = torch.randn(3, 2, 5, 5)
    centre = torch.full((3, 1), 4)
    flip = torch.tensor([[True], [False], [True]])
    out = crop_flip_at(x, centre, centre, flip, padding=4)
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[2], x[2].flip(-1))
    assert torch.equal(out[1], x[1])
    zero = torch.zeros(3, 1, dtype=torch.long)
    assert torch.equal(crop_flip_at(x, zero, zero, flip | True, padding=0), x.flip(-1))


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_batch_augmentation_equals_a_per_sample_reference(channels_last):
    """crop_flip draws dy, dx, then the flips from the run's generator; per sample by hand."""
    x = torch.randn(64, 3, 8, 8)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    out = crop_flip(padding=4)(x, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    dy = torch.randint(0, 9, (64, 1), generator=g)
    dx = torch.randint(0, 9, (64, 1), generator=g)
    flip = torch.rand((64, 1), generator=g) < 0.5
    padded = nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(64):
        a, b = int(dy[i]), int(dx[i])
        ref = padded[i, :, a : a + 8, b : b + 8]
        assert torch.equal(out[i], ref.flip(-1) if flip[i] else ref), i
    assert 10 < int(flip.sum()) < 54 and len(set(dy.flatten().tolist())) == 9
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert out.is_contiguous() != channels_last


# --- uint8 on the device until the batch -----------------------------------------------


def test_images_stay_uint8_on_the_device_until_the_batch(monkeypatch):
    splits = image_splits()
    data = to_device(splits, "cpu")
    assert data.train.dtype == data.val.dtype == data.test.dtype == torch.uint8
    assert data.train.data_ptr() == splits.x_train.data_ptr()  # one copy: the stored one
    idx = torch.tensor([5, 0, 17])
    expected = (splits.x_train[idx].float() - torch.tensor([120.0, 128, 136])[:, None, None]) / (
        torch.tensor([70.0, 74, 78])[:, None, None]
    )
    assert torch.equal(data.inputs(data.train[idx]), expected)
    assert torch.equal(data.x_train[idx], expected)  # whole-split view, for one-off passes

    seen: list[tuple[torch.dtype, int]] = []
    inputs = data.inputs

    def spy(x: torch.Tensor) -> torch.Tensor:
        seen.append((x.dtype, len(x)))
        return inputs(x)

    def whole_split(self):
        raise AssertionError("the loop made a float copy of a whole split")

    monkeypatch.setattr(data, "inputs", spy)
    for name in ("x_train", "x_val", "x_test"):
        monkeypatch.setattr(DeviceData, name, property(whole_split))
    fit(conv_net(), data, TrainConfig(**{**TRAIN, "epochs": 1, "eval_batch_size": 8}), seed=0)
    assert seen and {d for d, _ in seen} == {torch.uint8}
    assert [n for _, n in seen] == [16, 16, 16, 8, 8]  # 3 training batches, 2 val chunks


# --- channels_last ---------------------------------------------------------------------


def test_channels_last_only_for_conv_models_on_images_and_by_default_only_on_cuda():
    data = to_device(image_splits(), "cpu")
    assert not use_channels_last(conv_net(), data)  # CPU: off unless asked
    assert use_channels_last(conv_net(), data, True)
    assert not use_channels_last(nn.Sequential(nn.Flatten(), nn.Linear(192, 3)), data, True)
    inputs = batch_inputs(data, torch.channels_last)(data.train[:4])
    assert inputs.dtype == torch.float32 and not inputs.is_contiguous()
    assert inputs.is_contiguous(memory_format=torch.channels_last)


def test_channels_last_keeps_the_loss_on_cpu():
    data = to_device(image_splits(), "cpu")
    cfg = TrainConfig(**TRAIN)
    plain, nhwc = conv_net(), conv_net()
    formats: list[tuple[bool, bool]] = []

    def record(m: nn.Conv2d, args: tuple) -> None:
        fmt = torch.channels_last
        formats.append((args[0].is_contiguous(memory_format=fmt), m.weight.is_contiguous()))

    nhwc[0].register_forward_pre_hook(record)
    h_plain = fit(plain, data, cfg, seed=3)
    h_nhwc = fit(nhwc, data, cfg, seed=3, channels_last=True)
    assert formats and all(x_cl and not w_plain for x_cl, w_plain in formats)
    assert all(p.is_contiguous() for p in nhwc.parameters())  # handed back contiguous
    for a, b in zip(h_plain, h_nhwc, strict=True):
        for key in ("train_loss", "val_loss", "train_acc"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
    assert h_plain[0]["train_loss"] != h_plain[1]["train_loss"]  # it trained
    with torch.no_grad():
        out_plain, out_nhwc = plain.eval()(data.x_val), nhwc.eval()(data.x_val)
    assert torch.allclose(out_plain, out_nhwc, rtol=1e-4, atol=1e-5)


# --- the benchmark -----------------------------------------------------------------------


def test_the_gpu_benchmark_runs_on_cpu_with_tiny_sizes(tmp_path):
    out = tmp_path / "gpu_train.json"
    args = ["--device", "cpu", "--images", "8", "--epochs", "2", "--batch-size", "8"]
    args += ["--synthetic", "--bound-seconds", "0.01", "--out", str(out)]
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_train.py"), *args],
        check=False, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "images/s" in proc.stdout and "s/epoch" in proc.stdout
    assert "cifar10-shaped synthetic: 8 train, 1 val images" in proc.stdout
    result = json.loads(out.read_text())
    assert result["images"] == 8 and len(result["epoch_s"]) == 1  # epoch 1 is not timed
    assert result["train_flops_per_image"] > 1e9 and result["bound_s_per_epoch"] > 0
