"""The meta shortcuts for BatchNorm and Hardtanh: same result as torch's meta kernels,
and the kernels' own errors whenever the arguments would not fit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import models
from pytest_convbudget import profile
from pytest_convbudget.engine.meta_shortcuts import batch_norm, hardtanh


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


def assert_same_figures(on_meta, on_cpu) -> None:  # type: ignore[no-untyped-def]
    """Every figure equal, the memory peak included. The live-bytes trace is a picture of
    each device's own allocations (a shortcut may create a kernel's outputs one by one):
    only its peak must agree. Input values are computed on meta only."""
    meta, cpu = on_meta.to_dict(), on_cpu.to_dict()
    assert max(meta.pop("live_bytes")) == max(cpu.pop("live_bytes")) == on_cpu.activation_bytes > 0
    assert (meta.pop("input_value_bytes"), cpu.pop("input_value_bytes")) == (0, None)  # no integer input here
    assert meta | {"device": "cpu"} == cpu


@pytest.mark.parametrize("factory", [models.mobilenet_v2, models.resnet18, models.unet3d])
def test_meta_counts_equal_real_counts_with_the_shortcuts(factory) -> None:
    model = factory()
    shape = (1, 1, 16, 16, 16) if factory is models.unet3d else (2, 3, 64, 64)
    data = torch.randn(shape)
    on_meta = profile(model, data, device="meta")
    on_cpu = profile(model, data, device="cpu")
    assert_same_figures(on_meta, on_cpu)


# -- the transformer shortcuts: LayerNorm, GELU, linear, scaled dot-product attention ----------

from pytest_convbudget.engine.meta_shortcuts import (  # noqa: E402
    cat, cpu_sdp_choice, gelu, layer_norm, linear, scaled_dot_product_attention,
)


def transposed(*shape: int) -> torch.Tensor:
    """A non-contiguous meta tensor: the last two of ``shape`` swapped in memory."""
    return meta(*shape[:-2], shape[-1], shape[-2]).transpose(-1, -2)


@pytest.mark.parametrize(
    ("kernel", "shortcut", "args", "kwargs"),
    [
        (F.layer_norm, layer_norm, (meta(2, 5, 8), (8,), meta(8), meta(8)), {}),
        (F.layer_norm, layer_norm, (transposed(2, 5, 8), [8]), {}),
        (F.layer_norm, layer_norm, (meta(2, 5, 8).half(), (5, 8)), {"weight": meta(5, 8).half()}),
        (F.gelu, gelu, (meta(2, 5, 8),), {"approximate": "tanh"}),
        (F.linear, linear, (meta(2, 5, 8), meta(3, 8), meta(3)), {}),
        (F.linear, linear, (transposed(2, 5, 8), meta(3, 8)), {}),
        (F.linear, linear, (meta(8), meta(3, 8)), {}),
        (torch.cat, cat, ([meta(2, 3, 4), meta(2, 5, 4)], 1), {}),
        (torch.cat, cat, ([meta(2, 3, 4, 4).to(memory_format=torch.channels_last)] * 2,), {"dim": 1}),
        (torch.cat, cat, ([meta(2, 3, 4, 4).to(memory_format=torch.channels_last), meta(2, 3, 4, 4)], -1), {}),
        (torch.cat, cat, ([transposed(2, 3, 4), transposed(2, 3, 4)], 0), {}),
    ],
)
def test_transformer_shortcuts_match_the_meta_kernels(kernel, shortcut, args: tuple, kwargs: dict) -> None:  # type: ignore[no-untyped-def]
    expected = kernel(*args, **kwargs)
    got = shortcut(args, kwargs)
    assert (got.shape, got.stride(), got.dtype, got.device) == (
        expected.shape, expected.stride(), expected.dtype, expected.device
    )


@pytest.mark.parametrize(
    ("shortcut", "args", "kwargs"),
    [
        (layer_norm, (meta(2, 5, 8), (7,)), {}),  # normalized_shape does not end the input's shape
        (layer_norm, (meta(2, 5, 8), (8,), meta(7)), {}),  # weight of the wrong size
        (layer_norm, (meta(2, 5, 8), (8,), meta(8).half()), {}),  # mixed dtypes: the kernel decides
        (gelu, (meta(2, 5, 8),), {"approximate": "fast"}),  # unknown approximation: the kernel raises
        (gelu, (transposed(2, 5, 8),), {}),  # strided input: the kernel decides the layout
        (linear, (meta(2, 5, 8), meta(3, 7)), {}),  # in_features mismatch
        (linear, (meta(2, 5, 8), meta(3, 8), meta(4)), {}),  # bias of the wrong size
        (linear, (torch.zeros(2, 8), torch.zeros(3, 8)), {}),  # not meta
        (scaled_dot_product_attention, (meta(2, 4, 5, 8), meta(2, 4, 7, 8), meta(2, 4, 6, 8)), {}),  # S differs
        (scaled_dot_product_attention, (meta(2, 4, 5, 8), meta(2, 4, 7, 6), meta(2, 4, 7, 8)), {}),  # E differs
        (scaled_dot_product_attention, (meta(6, 5, 8), meta(6, 5, 8), meta(6, 5, 8)), {}),  # 3-D: torch's own route
        (cat, ([meta(2, 3), meta(3, 3)], 1), {}),  # sizes off the dim differ: the kernel raises
        (cat, ([meta(0), meta(2, 3)],), {}),  # the legacy empty 1-D operand
        (cat, ([meta(2, 3), meta(2, 3).half()], 0), {}),  # dtypes promote: the kernel decides
        (cat, ([meta(2, 3)], 0), {"out": meta(2, 3)}),
    ],
)
def test_transformer_shortcuts_leave_doubtful_calls_to_the_kernel(shortcut, args: tuple, kwargs: dict) -> None:  # type: ignore[no-untyped-def]
    assert shortcut(args, kwargs) is NotImplemented


ATTENTION_CASES = [
    ((meta(2, 4, 5, 8), meta(2, 4, 7, 8), meta(2, 4, 7, 8)), {}),
    ((transposed(2, 4, 5, 8), meta(2, 4, 5, 8), meta(2, 4, 5, 8)), {"is_causal": True}),
    ((meta(2, 4, 5, 8), meta(2, 4, 7, 8), meta(2, 4, 7, 6)), {}),
    ((meta(2, 4, 5, 8), meta(2, 4, 7, 8), meta(2, 4, 7, 8), meta(5, 7)), {}),
    ((meta(2, 4, 5, 8), meta(2, 4, 7, 8), meta(2, 4, 7, 8), torch.ones(5, 7, dtype=torch.bool, device="meta")), {}),
    ((meta(2, 4, 5, 8), meta(2, 2, 7, 8), meta(2, 2, 7, 8)), {"enable_gqa": True}),
    ((meta(2, 4, 5, 8), meta(1, 4, 7, 8), meta(1, 4, 7, 8)), {}),
    ((meta(1, 2, 16, 64).half(), meta(1, 2, 16, 64).half(), meta(1, 2, 16, 64).half()), {"scale": 0.5}),
]


@pytest.mark.parametrize(("args", "kwargs"), ATTENTION_CASES)
def test_attention_shortcut_answers_as_the_cpu_kernel_or_leaves_it_to_torch(args: tuple, kwargs: dict) -> None:
    """Answered only where the CPU would take its fused kernel, and then with the CPU's
    output layout: on meta the memory figures follow the CPU's route."""
    on_cpu = tuple(torch.ones(t.shape, dtype=t.dtype).as_strided(t.shape, t.stride()) for t in args)
    expected = F.scaled_dot_product_attention(*on_cpu, **kwargs)
    fused = cpu_sdp_choice(*args[:4], enable_gqa=kwargs.get("enable_gqa", False),
                           causal=kwargs.get("is_causal", False)) == int(torch.nn.attention.SDPBackend.FLASH_ATTENTION)
    got = scaled_dot_product_attention(args, kwargs)
    if not fused:
        assert got is NotImplemented
    else:
        assert (got.shape, got.stride(), got.dtype) == (expected.shape, expected.stride(), expected.dtype)


def test_some_attention_cases_take_the_fused_kernel_and_some_do_not() -> None:
    answered = [scaled_dot_product_attention(args, kwargs) is not NotImplemented for args, kwargs in ATTENTION_CASES]
    assert any(answered) and not all(answered)


def test_a_shape_error_in_a_linear_is_still_the_models_error() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(10, 4))
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x12 and 10x4\)"):
        profile(model, torch.randn(2, 3, 4), count="all")


def test_vit_meta_counts_equal_real_counts_with_the_shortcuts() -> None:
    model = models.vit_tiny()
    data = torch.randn(2, 3, 32, 32)
    on_meta = profile(model, data, device="meta", count="all")
    on_cpu = profile(model, data, device="cpu", count="all")
    assert_same_figures(on_meta, on_cpu)
