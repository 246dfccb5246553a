"""The meta shortcuts for BatchNorm and Hardtanh: same result as torch's meta kernels,
and the kernels' own errors whenever the arguments would not fit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import models
from pytest_convbudget import profile
from pytest_convbudget.meta_shortcuts import batch_norm, hardtanh


def meta(*shape: int) -> torch.Tensor:
    return torch.empty(shape, device="meta")


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_batch_norm_shortcut_matches_the_meta_kernel(memory_format: torch.memory_format) -> None:
    data = meta(2, 3, 5, 7).to(memory_format=memory_format).half()
    stats = (meta(3), meta(3), meta(3), meta(3))
    expected = F.batch_norm(data, *stats)
    got = batch_norm((data, *stats), {})
    assert (got.shape, got.stride(), got.dtype, got.device) == (
        expected.shape, expected.stride(), expected.dtype, expected.device
    )


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((meta(2, 3, 4), meta(4), meta(4)), {}),  # running stats for the wrong channel count
        ((meta(2, 3, 4), meta(3), meta(3), meta(5)), {}),  # weight of the wrong size
        ((meta(2, 3, 4), meta(3), meta(3)), {"training": True}),  # batch statistics: the kernel checks them
        ((meta(3),), {}),  # no channel dimension
        ((torch.zeros(2, 3, 4), torch.zeros(3), torch.ones(3)), {}),  # not a meta tensor
    ],
)
def test_batch_norm_shortcut_leaves_doubtful_calls_to_the_kernel(args: tuple, kwargs: dict) -> None:
    assert batch_norm(args, kwargs) is NotImplemented


def test_hardtanh_shortcut_in_place_and_out_of_place() -> None:
    data = meta(2, 8, 3, 3)
    assert hardtanh((data, 0.0, 6.0, True), {}) is data
    out = hardtanh((data,), {"min_val": 0.0, "max_val": 6.0})
    assert out is not data and out.shape == data.shape and out.stride() == data.stride()
    assert hardtanh((data, 6.0, 0.0), {}) is NotImplemented  # min > max: the kernel raises


def test_a_shape_error_in_batch_norm_is_still_the_models_error() -> None:
    """On meta the wrong BatchNorm falls through to the kernel, fails, and auto
    falls back to a real forward, which raises the model's own error."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(4))
    with pytest.raises(RuntimeError, match="running_mean should contain 8 elements not 4") as raised:
        profile(model, torch.randn(1, 3, 8, 8))
    assert raised.value.__context__ is None  # the real forward's error, not chained to the meta attempt


@pytest.mark.parametrize("factory", [models.mobilenet_v2, models.resnet18, models.unet3d])
def test_meta_counts_equal_real_counts_with_the_shortcuts(factory) -> None:
    model = factory()
    shape = (1, 1, 16, 16, 16) if factory is models.unet3d else (2, 3, 64, 64)
    data = torch.randn(shape)
    on_meta = profile(model, data, device="meta")
    on_cpu = profile(model, data, device="cpu")
    assert on_meta.to_dict() | {"device": "cpu"} == on_cpu.to_dict()
