"""Pin the cost formulas of ``shared/CONVENTIONS.md`` against an independent count.

The formulas in :mod:`pytest_convbudget.engine.formulas` are products of shapes. The
tests here do not re-derive those products: they run a deliberately naive
pure-Python convolution that performs the real arithmetic, count every multiply
and every add it makes, prove the loop is a real convolution by comparing its
numbers with torch's module, and only then compare the counts with the
formulas. Hypothesis drives the shapes; a few hand-worked Conv2d examples from
the founding note pin concrete numbers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from counted_arithmetic import OpCounter

from pytest_convbudget.engine.formulas import (
    CallCost,
    conv_cost,
    conv_params,
    linear_cost,
    linear_params,
    transposed_conv_cost,
)

CONV_CLASSES = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
TRANSPOSED_CLASSES = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
# How far above the smallest legal size a spatial extent may go, per
# dimensionality: the naive loops are cubic in it, so 3D stays very tiny.
EXTRA_SIZE = {1: 8, 2: 4, 3: 2}
PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------
# The counting arithmetic
# ---------------------------------------------------------------------------


def nested_get(nested: Any, index: Sequence[int]) -> Any:
    """Index nested lists with a tuple, so one loop body serves 1D, 2D and 3D."""
    for i in index:
        nested = nested[i]
    return nested


def nested_set(nested: Any, index: Sequence[int], value: Any) -> None:
    """Assign into nested lists with a tuple index (see :func:`nested_get`)."""
    for i in index[:-1]:
        nested = nested[i]
    nested[index[-1]] = value


def nested_full(shape: Sequence[int], value: Any) -> Any:
    """Nested lists of ``shape`` filled with ``value``: the loops' output buffers."""
    if not shape:
        return value
    return [nested_full(shape[1:], value) for _ in range(shape[0])]


def positions(shape: Sequence[int]) -> itertools.product:
    """Every index tuple of a spatial ``shape``."""
    return itertools.product(*(range(n) for n in shape))


def seeded_like(tensor: torch.Tensor, seed: int) -> torch.Tensor:
    """Float64 random values of ``tensor``'s shape from a private generator.

    Hypothesis replays examples by their drawn seed; the global torch RNG is
    left alone so other tests are not disturbed.
    """
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(tensor.shape, generator=generator, dtype=torch.float64)


def randomise_parameters(module: nn.Module, seed: int) -> nn.Module:
    """Cast a module to float64 and give it reproducible random weights."""
    module = module.double()
    with torch.no_grad():
        for offset, param in enumerate(module.parameters()):
            param.copy_(seeded_like(param, seed + offset + 1))
    return module


def torch_flop_count(module: nn.Module, x: torch.Tensor) -> int:
    """FLOPs that ``torch.utils.flop_counter`` reports for one forward (2 per MAC)."""
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


# ---------------------------------------------------------------------------
# Naive loops
# ---------------------------------------------------------------------------


def naive_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    counter: OpCounter,
) -> torch.Tensor:
    """A direct convolution of an already padded, batched input.

    Padding is done by the caller (so every padded tap, zero or not, is a real
    multiply here), which is how torch itself runs the non-zero padding modes.
    Each output element is one dot product over its group's input channels and
    the kernel taps, plus the bias.
    """
    batch, in_channels, *in_size = x.shape
    out_channels, in_per_group, *kernel = weight.shape
    out_per_group = out_channels // groups
    out_size = [
        (size - d * (k - 1) - 1) // s + 1
        for size, k, s, d in zip(in_size, kernel, stride, dilation)
    ]
    xs, ws = x.tolist(), weight.tolist()
    bs = bias.tolist() if bias is not None else None
    out = nested_full([batch, out_channels, *out_size], 0.0)
    for n, co in itertools.product(range(batch), range(out_channels)):
        first_in = (co // out_per_group) * in_per_group
        for o in positions(out_size):
            total = None
            for ci, tap in itertools.product(range(in_per_group), positions(kernel)):
                where = [oi * s + ti * d for oi, ti, s, d in zip(o, tap, stride, dilation)]
                product = counter.mul(
                    nested_get(xs[n][first_in + ci], where), nested_get(ws[co][ci], tap)
                )
                total = counter.accumulate(total, product)
            if bs is not None:
                total = counter.add(total, bs[co])
            nested_set(out[n][co], o, total)
    return torch.tensor(out, dtype=torch.float64).reshape(batch, out_channels, *out_size)


@dataclass
class ScatterResult:
    """Output of :func:`naive_transposed_conv` and facts about its buffer."""

    output: torch.Tensor
    buffer_fully_covered: bool


def naive_transposed_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[int],
    output_padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    counter: OpCounter,
) -> ScatterResult:
    """A transposed convolution done by scatter, the way the cost model counts it.

    Every input element is multiplied by every kernel tap of every output
    channel of its group and added into a full, uncropped buffer; the buffer is
    then cropped by ``padding`` and extended with zeros by ``output_padding``,
    and the bias is added to each kept output. Positions of the buffer that no
    product reaches (gaps left by a large stride or dilation) are reported.
    """
    batch, in_channels, *in_size = x.shape
    _, out_per_group, *kernel = weight.shape
    in_per_group = in_channels // groups
    out_channels = out_per_group * groups
    full_size = [
        (size - 1) * s + d * (k - 1) + 1
        for size, k, s, d in zip(in_size, kernel, stride, dilation)
    ]
    out_size = [f - 2 * p + op for f, p, op in zip(full_size, padding, output_padding)]
    xs, ws = x.tolist(), weight.tolist()
    buffer = nested_full([batch, out_channels, *full_size], None)
    for n, ci in itertools.product(range(batch), range(in_channels)):
        first_out = (ci // in_per_group) * out_per_group
        for i in positions(in_size):
            value = nested_get(xs[n][ci], i)
            for co, tap in itertools.product(range(out_per_group), positions(kernel)):
                where = [ii * s + ti * d for ii, ti, s, d in zip(i, tap, stride, dilation)]
                product = counter.mul(value, nested_get(ws[ci][co], tap))
                row = buffer[n][first_out + co]
                nested_set(row, where, counter.accumulate(nested_get(row, where), product))
    covered = all(
        nested_get(buffer[n][co], f) is not None
        for n, co in itertools.product(range(batch), range(out_channels))
        for f in positions(full_size)
    )
    bs = bias.tolist() if bias is not None else None
    out = nested_full([batch, out_channels, *out_size], 0.0)
    for n, co in itertools.product(range(batch), range(out_channels)):
        for o in positions(out_size):
            source = [oi + p for oi, p in zip(o, padding)]
            inside = all(0 <= si < f for si, f in zip(source, full_size))
            found = nested_get(buffer[n][co], source) if inside else None
            total = 0.0 if found is None else found
            if bs is not None:
                total = counter.add(total, bs[co])
            nested_set(out[n][co], o, total)
    output = torch.tensor(out, dtype=torch.float64).reshape(batch, out_channels, *out_size)
    return ScatterResult(output=output, buffer_fully_covered=covered)


def naive_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 counter: OpCounter) -> torch.Tensor:
    """``x @ weight.T + bias`` as one counted dot product per row and feature."""
    rows = x.reshape(-1, x.shape[-1]).tolist()
    ws = weight.tolist()
    bs = bias.tolist() if bias is not None else None
    out = []
    for row in rows:
        out_row = []
        for f, w_row in enumerate(ws):
            total = None
            for a, b in zip(row, w_row):
                total = counter.accumulate(total, counter.mul(a, b))
            if bs is not None:
                total = counter.add(total, bs[f])
            out_row.append(total)
        out.append(out_row)
    return torch.tensor(out, dtype=torch.float64).reshape(*x.shape[:-1], weight.shape[0])


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------


@st.composite
def channels_and_groups(draw: st.DrawFn) -> tuple[int, int, int]:
    """(in_channels, out_channels, groups) with 1-4 channels and groups dividing both.

    Depthwise convs (groups == in_channels) are drawn on purpose half the
    time, since a uniform draw over channel counts rarely produces them.
    """
    if draw(st.booleans()):
        cin = draw(st.integers(1, 4))
        cout = cin * draw(st.integers(1, 4 // cin))
        return cin, cout, cin
    cin = draw(st.integers(1, 4))
    cout = draw(st.integers(1, 4))
    groups = draw(st.sampled_from([g for g in range(1, 5) if cin % g == 0 and cout % g == 0]))
    return cin, cout, groups


@dataclass(frozen=True)
class ConvCase:
    """One drawn ordinary-convolution configuration."""

    dims: int
    in_channels: int
    out_channels: int
    groups: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: str | tuple[int, ...]
    padding_mode: str
    bias: bool
    batch: int | None  # None: unbatched input
    size: tuple[int, ...]
    seed: int


@st.composite
def conv_cases(draw: st.DrawFn) -> ConvCase:
    """Tiny legal Conv1d/2d/3d configurations with a non-empty output.

    Spatial sizes are drawn from the smallest legal size upwards, so the
    reflect/circular padding limits and a non-empty output hold by
    construction rather than by rejecting examples.
    """
    dims = draw(st.integers(1, 3))
    cin, cout, groups = draw(channels_and_groups())
    per_dim = st.lists(st.integers(1, 3), min_size=dims, max_size=dims).map(tuple)
    kernel = draw(per_dim)
    dilation = draw(st.lists(st.integers(1, 2), min_size=dims, max_size=dims).map(tuple))
    kind = draw(st.sampled_from(["explicit", "same", "valid"]))
    if kind == "same":
        padding: str | tuple[int, ...] = "same"
        stride = (1,) * dims  # torch allows 'same' only with stride 1
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        pads = [(t // 2, t - t // 2) for t in totals]
    elif kind == "valid":
        padding = "valid"
        stride = draw(per_dim)
        pads = [(0, 0)] * dims
    else:
        padding = draw(st.lists(st.integers(0, 2), min_size=dims, max_size=dims).map(tuple))
        stride = draw(per_dim)
        pads = [(p, p) for p in padding]
    padding_mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    size = []
    for k, d, (left, right) in zip(kernel, dilation, pads):
        smallest = max(1, d * (k - 1) + 1 - left - right)
        if padding_mode == "reflect":
            smallest = max(smallest, max(left, right) + 1)
        elif padding_mode == "circular":
            smallest = max(smallest, left, right)
        size.append(draw(st.integers(smallest, smallest + EXTRA_SIZE[dims])))
    batch = draw(st.one_of(st.none(), st.integers(1, 2)))
    return ConvCase(
        dims=dims, in_channels=cin, out_channels=cout, groups=groups, kernel=kernel,
        stride=stride, dilation=dilation, padding=padding, padding_mode=padding_mode,
        bias=draw(st.booleans()), batch=batch, size=tuple(size),
        seed=draw(st.integers(0, 2**31)),
    )


@dataclass(frozen=True)
class TransposedCase:
    """One drawn transposed-convolution configuration."""

    dims: int
    in_channels: int
    out_channels: int
    groups: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]
    bias: bool
    batch: int | None
    size: tuple[int, ...]
    seed: int


@st.composite
def transposed_cases(draw: st.DrawFn) -> TransposedCase:
    """Tiny legal ConvTranspose1d/2d/3d configurations with a non-empty output.

    Half the draws use no padding and no output_padding, the cases where the
    FLOPs convention is a literal count, so both branches of the transposed
    test are well exercised.
    """
    dims = draw(st.integers(1, 3))
    cin, cout, groups = draw(channels_and_groups())
    kernel, stride, dilation, padding, output_padding, size = [], [], [], [], [], []
    uncropped = draw(st.booleans())
    for _ in range(dims):
        k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        n = draw(st.integers(1, 1 + EXTRA_SIZE[dims]))
        full = (n - 1) * s + d * (k - 1) + 1
        # torch requires output_padding < max(stride, dilation)
        op = 0 if uncropped else draw(st.integers(0, max(s, d) - 1))
        # keep the cropped output non-empty: full - 2p + op >= 1
        p = 0 if uncropped else draw(st.integers(0, min(2, (full + op - 1) // 2)))
        for values, v in zip((kernel, stride, dilation, padding, output_padding, size),
                             (k, s, d, p, op, n)):
            values.append(v)
    return TransposedCase(
        dims=dims, in_channels=cin, out_channels=cout, groups=groups, kernel=tuple(kernel),
        stride=tuple(stride), dilation=tuple(dilation), padding=tuple(padding),
        output_padding=tuple(output_padding), bias=draw(st.booleans()),
        batch=draw(st.one_of(st.none(), st.integers(1, 2))), size=tuple(size),
        seed=draw(st.integers(0, 2**31)),
    )


def make_input(in_channels: int, batch: int | None, size: Sequence[int], seed: int) -> torch.Tensor:
    """A float64 input, batched ``(N, C, *size)`` or unbatched ``(C, *size)``."""
    shape = (in_channels, *size) if batch is None else (batch, in_channels, *size)
    return seeded_like(torch.empty(shape), seed)


def as_batched(t: torch.Tensor, batched: bool) -> torch.Tensor:
    """Add the batch dimension the naive loops always work with."""
    return t if batched else t.unsqueeze(0)


def module_params(module: nn.Module) -> int:
    """weight.numel() + bias.numel(): the parameter count the model promises."""
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@PROPERTY_SETTINGS
@given(case=conv_cases())
def test_conv_cost_equals_a_literal_count(case: ConvCase) -> None:
    module = CONV_CLASSES[case.dims](
        case.in_channels, case.out_channels, case.kernel, stride=case.stride,
        padding=case.padding, dilation=case.dilation, groups=case.groups,
        bias=case.bias, padding_mode=case.padding_mode,
    )
    module = randomise_parameters(module, case.seed)
    x = make_input(case.in_channels, case.batch, case.size, case.seed)
    expected = module(x)

    batched = case.batch is not None
    mode = "constant" if case.padding_mode == "zeros" else case.padding_mode
    pads = list(module._reversed_padding_repeated_twice)
    padded = F.pad(as_batched(x, batched), pads, mode=mode)
    assume(all(n >= 1 for n in expected.shape[-case.dims:]))
    counter = OpCounter()
    got = naive_conv(padded, module.weight, module.bias, module.stride, module.dilation,
                     module.groups, counter)

    # (a) the loop is a real convolution
    assert got.shape == as_batched(expected, batched).shape
    assert torch.allclose(got, as_batched(expected, batched))

    # (b) its counts are the formulas', fed from the module and its output
    batch = case.batch if batched else 1
    cost = conv_cost(module.kernel_size, module.in_channels, module.out_channels,
                     module.groups, module.bias is not None,
                     tuple(expected.shape[-case.dims:]))
    assert counter.multiplies == cost.macs * batch
    assert counter.flops == cost.flops * batch
    # torch's own counter agrees on the MACs (it reports 2 FLOPs per MAC)
    assert torch_flop_count(module, x) == 2 * cost.macs * batch

    # (c) params are the tensors' sizes
    assert conv_params(module.kernel_size, module.in_channels, module.out_channels,
                       module.groups, module.bias is not None) == module_params(module)

    # (d) the same conv called as a function is counted the same, from its tensors' shapes
    functional = profile_functional(lambda data: module._conv_forward(data, module.weight, module.bias), x)
    assert (functional.total_macs, functional.total_flops) == (cost.macs * batch, cost.flops * batch)


class CallsAFunction(nn.Module):
    """A model whose only conv is a function call: no conv module for a hook to find."""

    def __init__(self, function: Any) -> None:
        super().__init__()
        self.function = function

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        return self.function(data)


def profile_functional(function: Any, data: torch.Tensor) -> Any:
    """``count="functional_conv"`` on CPU (the weights live outside the model, so not on meta)."""
    from pytest_convbudget import profile

    cost = profile(CallsAFunction(function), data, device="cpu", count="functional_conv", batch_size=1)
    assert [layer.kind for layer in cost.layers] == ["functional_conv"]
    return cost


@PROPERTY_SETTINGS
@given(case=transposed_cases())
def test_transposed_conv_cost_matches_the_scatter(case: TransposedCase) -> None:
    module = TRANSPOSED_CLASSES[case.dims](
        case.in_channels, case.out_channels, case.kernel, stride=case.stride,
        padding=case.padding, output_padding=case.output_padding, groups=case.groups,
        bias=case.bias, dilation=case.dilation,
    )
    module = randomise_parameters(module, case.seed)
    x = make_input(case.in_channels, case.batch, case.size, case.seed)
    expected = module(x)

    batched = case.batch is not None
    counter = OpCounter()
    result = naive_transposed_conv(
        as_batched(x, batched), module.weight, module.bias, module.stride, module.padding,
        module.output_padding, module.dilation, module.groups, counter,
    )
    assert result.output.shape == as_batched(expected, batched).shape
    assert torch.allclose(result.output, as_batched(expected, batched))

    batch = case.batch if batched else 1
    out_spatial = tuple(expected.shape[-case.dims:])
    cost = transposed_conv_cost(
        module.kernel_size, module.in_channels, module.out_channels, module.groups,
        module.bias is not None, tuple(x.shape[-case.dims:]), out_spatial,
    )
    assert counter.multiplies == cost.macs * batch
    assert torch_flop_count(module, x) == 2 * cost.macs * batch

    literal = (
        all(p == 0 for p in module.padding)
        and all(op == 0 for op in module.output_padding)
        and result.buffer_fully_covered
    )
    outputs = module.out_channels * math.prod(out_spatial)
    if literal:
        # Every output is the sum of the products scattered onto it, so the
        # convention "2*MACs - outputs (+ outputs for the bias)" is exact.
        assert counter.flops == cost.flops * batch
    else:
        # Here the literal count differs from the convention on purpose:
        # padding crops sums that were computed anyway (their adds are real
        # but belong to no output), output_padding adds outputs that no
        # product reaches, and a stride or dilation wider than the kernel
        # footprint leaves gaps that need no add. The cost model still treats
        # each output as one sum of its contributions; pin that rule directly.
        assert cost.flops == 2 * cost.macs - outputs + (outputs if case.bias else 0)
    assert conv_params(module.kernel_size, module.in_channels, module.out_channels,
                       module.groups, module.bias is not None) == module_params(module)

    transposed_function = getattr(F, f"conv_transpose{case.dims}d")
    functional = profile_functional(
        lambda data: transposed_function(data, module.weight, module.bias, module.stride, module.padding,
                                         module.output_padding, module.groups, module.dilation),
        x,
    )
    assert (functional.total_macs, functional.total_flops) == (cost.macs * batch, cost.flops * batch)


@settings(max_examples=60, deadline=None, database=None)
@given(
    in_features=st.integers(1, 5),
    out_features=st.integers(1, 5),
    bias=st.booleans(),
    leading=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    seed=st.integers(0, 2**31),
)
def test_linear_cost_is_a_counted_dot_product(
    in_features: int, out_features: int, bias: bool, leading: list[int], seed: int
) -> None:
    """``leading`` is the batch (if any) followed by the positions between it and the features."""
    module = randomise_parameters(nn.Linear(in_features, out_features, bias=bias), seed)
    x = seeded_like(torch.empty(*leading, in_features), seed)
    counter = OpCounter()
    got = naive_linear(x, module.weight, module.bias, counter)
    assert torch.allclose(got, module(x))

    batch = leading[0] if leading else 1
    positions_ = math.prod(leading[1:])
    cost = linear_cost(in_features, out_features, bias, positions_)
    assert counter.multiplies == cost.macs * batch
    assert counter.flops == cost.flops * batch
    assert linear_params(in_features, out_features, bias) == module_params(module)


# ---------------------------------------------------------------------------
# Founding-note Conv2d examples, worked by hand
# ---------------------------------------------------------------------------


def conv2d_row(module: nn.Conv2d, height: int, width: int) -> tuple[int, CallCost]:
    """Params and per-sample cost of a Conv2d, fed from the module and a real forward.

    The hand-worked numbers below also assert the output shape they assume,
    by running the module once on a batch of two.
    """
    out = module(torch.zeros(2, module.in_channels, height, width))
    params = conv_params(module.kernel_size, module.in_channels, module.out_channels,
                         module.groups, module.bias is not None)
    cost = conv_cost(module.kernel_size, module.in_channels, module.out_channels,
                     module.groups, module.bias is not None, tuple(out.shape[2:]))
    return params, cost


@pytest.mark.parametrize(
    ("module", "size", "params", "macs", "flops"),
    [
        pytest.param(
            # 3x3, 3 -> 64, padding 1 on 224x224: out 224x224 = 50_176 positions.
            # terms = 9*3 = 27; MACs = 27 * 64 * 50_176 = 86_704_128
            nn.Conv2d(3, 64, 3, padding=1), 224, 27 * 64 + 64, 86_704_128, 2 * 86_704_128,
            id="ordinary-bias",
        ),
        pytest.param(
            # no bias: (2*27 - 1) * 64 * 50_176 = 53 * 3_211_264 = 170_196_992
            nn.Conv2d(3, 64, 3, padding=1, bias=False), 224, 1728, 86_704_128, 170_196_992,
            id="ordinary-no-bias",
        ),
        pytest.param(
            # dilation 2, no padding, 32x32: out = 32 - 2*(3-1) = 28, 784 positions.
            # terms = 9*16 = 144; MACs = 144 * 32 * 784 = 3_612_672
            # no bias: (288 - 1) * 32 * 784 = 287 * 25_088 = 7_200_256
            nn.Conv2d(16, 32, 3, dilation=2, bias=False), 32, 144 * 32, 3_612_672, 7_200_256,
            id="dilated-no-bias",
        ),
        pytest.param(
            # stride 2, padding 1 on 32x32: out 16x16 = 256; terms 144
            # MACs = 144 * 32 * 256 = 1_179_648; with bias FLOPs = 2 * MACs
            nn.Conv2d(16, 32, 3, stride=2, padding=1), 32, 4608 + 32, 1_179_648, 2_359_296,
            id="strided-bias",
        ),
        pytest.param(
            # groups 4, 32 -> 64, padding 1 on 16x16: terms = 9 * 32/4 = 72,
            # outputs = 64 * 256 = 16_384; MACs = 72 * 16_384 = 1_179_648
            # no bias: (144 - 1) * 16_384 = 2_342_912
            nn.Conv2d(32, 64, 3, padding=1, groups=4, bias=False), 16, 72 * 64,
            1_179_648, 2_342_912, id="grouped-no-bias",
        ),
        pytest.param(
            nn.Conv2d(32, 64, 3, padding=1, groups=4), 16, 72 * 64 + 64,
            1_179_648, 2_359_296, id="grouped-bias",
        ),
    ],
)
def test_founding_note_conv2d_examples(
    module: nn.Conv2d, size: int, params: int, macs: int, flops: int
) -> None:
    got_params, cost = conv2d_row(module, size, size)
    assert got_params == params == module_params(module)
    assert cost == CallCost(macs=macs, flops=flops)


@pytest.mark.parametrize("bias", [True, False])
def test_depthwise_separable_is_two_rows_summed(bias: bool) -> None:
    # depthwise 3x3 over 32 channels, padding 1, 56x56 (3_136 positions):
    #   terms 9, outputs 32 * 3_136 = 100_352, MACs 903_168, params 288 (+32)
    # pointwise 1x1, 32 -> 64:
    #   terms 32, outputs 64 * 3_136 = 200_704, MACs 6_422_528, params 2_048 (+64)
    depthwise = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=bias)
    pointwise = nn.Conv2d(32, 64, 1, bias=bias)
    rows = [conv2d_row(depthwise, 56, 56), conv2d_row(pointwise, 56, 56)]
    assert [r[1].macs for r in rows] == [903_168, 6_422_528]
    total_macs = sum(cost.macs for _, cost in rows)
    total_flops = sum(cost.flops for _, cost in rows)
    total_params = sum(params for params, _ in rows)
    assert total_macs == 7_325_696
    if bias:
        assert total_flops == 2 * 7_325_696
        assert total_params == 288 + 32 + 2_048 + 64
    else:
        # (18 - 1) * 100_352 + (64 - 1) * 200_704 = 1_705_984 + 12_644_352
        assert total_flops == 14_350_336
        assert total_params == 288 + 2_048
    # far cheaper than the dense 3x3 conv it replaces: 9 * 32 * 64 * 3_136 MACs
    assert total_macs < 9 * 32 * 64 * 3_136


def test_linear_is_a_one_by_one_conv() -> None:
    # nn.Linear(8, 5) on (batch, 7, 8): 7 positions of an 8-term dot product.
    # MACs = 8 * 5 * 7 = 280; FLOPs with bias 560, without (16 - 1) * 35 = 525
    assert linear_cost(8, 5, True, 7) == CallCost(macs=280, flops=560)
    assert linear_cost(8, 5, False, 7) == CallCost(macs=280, flops=525)
    assert linear_cost(8, 5, True, 7) == conv_cost((1,), 8, 5, 1, True, (7,))
    assert linear_params(8, 5, True) == conv_params((1,), 8, 5, 1, True) == 45

    # and numerically: the same weights as a Conv1d(8, 5, 1) over (batch, 8, 7)
    linear = randomise_parameters(nn.Linear(8, 5), seed=3)
    conv = nn.Conv1d(8, 5, 1).double()
    with torch.no_grad():
        conv.weight.copy_(linear.weight.unsqueeze(-1))
        conv.bias.copy_(linear.bias)
    x = seeded_like(torch.empty(2, 7, 8), seed=4)
    assert torch.allclose(linear(x), conv(x.transpose(1, 2)).transpose(1, 2))


def test_plain_linear_input_has_one_position() -> None:
    # (batch, features) input: positions = 1; one 10-term dot product per output
    counter = OpCounter()
    linear = randomise_parameters(nn.Linear(10, 3, bias=False), seed=5)
    x = seeded_like(torch.empty(4, 10), seed=6)
    naive_linear(x, linear.weight, None, counter)
    assert (counter.multiplies, counter.adds) == (4 * 3 * 10, 4 * 3 * 9)
    assert linear_cost(10, 3, False, 1) == CallCost(macs=30, flops=57)


# ---------------------------------------------------------------------------
# Exact integers, never floats
# ---------------------------------------------------------------------------


def assert_exact_int(value: object, expected: int) -> None:
    """``type(value) is int`` and equal: a float equal by luck would not pass."""
    assert type(value) is int, f"{value!r} is {type(value).__name__}, not int"
    assert value == expected


def test_huge_shapes_stay_exact_python_ints() -> None:
    # Odd sizes above 2**53 make every float shortcut visible: 10**6 + 1
    # channels, a 1001 x 999 output, a 3x3 kernel.
    cin = cout = 10**6 + 1
    out = (1001, 999)
    terms = 9 * cin
    outputs = cout * 1001 * 999
    cost = conv_cost((3, 3), cin, cout, 1, False, out)
    assert_exact_int(cost.macs, terms * outputs)
    assert_exact_int(cost.flops, (2 * terms - 1) * outputs)
    assert cost.macs > 2**53  # beyond what a float holds exactly
    biased = conv_cost((3, 3), cin, cout, 1, True, out)
    assert_exact_int(biased.flops, 2 * terms * outputs)
    assert_exact_int(conv_params((3, 3), cin, cout, 1, True), 9 * cin * cout + cout)

    grouped = conv_cost((3, 3, 3), 10**6, 2 * 10**6, 10**6, True, (7, 7, 7))
    assert_exact_int(grouped.macs, 27 * 1 * 2 * 10**6 * 343)

    in_spatial, out_spatial = (513, 257), (1025, 513)
    t = transposed_conv_cost((3, 3), cin, cout, 1, False, in_spatial, out_spatial)
    t_macs = 9 * cin * cout * 513 * 257
    assert_exact_int(t.macs, t_macs)
    assert_exact_int(t.flops, 2 * t_macs - cout * 1025 * 513)
    t_bias = transposed_conv_cost((3, 3), cin, cout, 1, True, in_spatial, out_spatial)
    assert_exact_int(t_bias.flops, 2 * t_macs)

    big = linear_cost(10**6 + 3, 10**6 + 7, False, 10**4 + 1)
    assert_exact_int(big.macs, (10**6 + 3) * (10**6 + 7) * (10**4 + 1))
    assert_exact_int(big.flops, (2 * (10**6 + 3) - 1) * (10**6 + 7) * (10**4 + 1))
    assert_exact_int(
        linear_params(10**6 + 3, 10**6 + 7, True), (10**6 + 3) * (10**6 + 7) + 10**6 + 7
    )


@pytest.mark.parametrize("bias", [True, False])
def test_every_function_returns_int_for_small_shapes(bias: bool) -> None:
    values = [
        conv_params((1,), 1, 1, 1, bias),
        *vars(conv_cost((2, 2), 4, 4, 2, bias, (3, 3))).values(),
        *vars(transposed_conv_cost((2,), 2, 2, 1, bias, (3,), (6,))).values(),
        linear_params(3, 2, bias),
        *vars(linear_cost(3, 2, bias, 1)).values(),
    ]
    assert all(type(v) is int for v in values), values


def test_a_conv_with_no_output_costs_nothing() -> None:
    assert conv_cost((3,), 4, 4, 1, False, (0,)) == CallCost(macs=0, flops=0)
