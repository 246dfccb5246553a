"""The cost model of ``shared/CONVENTIONS.md`` as pure functions of shapes.

Every function takes plain integers and tuples and returns exact Python
integers for ONE sample of one call; the profiler multiplies by the call's
batch. Nothing here imports torch, so the formulas can be tested and read on
their own. A dot product of ``n`` terms is ``n`` multiplies and ``n - 1`` adds;
a bias is one more add.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Sequence

COST_MODEL_VERSION = 1


@dataclass(frozen=True)
class CallCost:
    """MACs and FLOPs of one sample of one layer call."""

    macs: int
    flops: int


def conv_params(
    kernel_size: Sequence[int], in_channels: int, out_channels: int, groups: int, bias: bool
) -> int:
    """``prod(k) * Cin/g * Cout`` weights, plus ``Cout`` biases (also for transposed convs)."""
    weights = prod(kernel_size) * (in_channels // groups) * out_channels
    return weights + (out_channels if bias else 0)


def conv_cost(
    kernel_size: Sequence[int],
    in_channels: int,
    out_channels: int,
    groups: int,
    bias: bool,
    out_spatial: Sequence[int],
) -> CallCost:
    """An ordinary (possibly strided, dilated, grouped, padded) convolution.

    Each output element is a dot product of ``prod(k) * Cin/g`` terms.
    Stride, padding, dilation and padding mode only change ``out_spatial``.
    """
    terms = prod(kernel_size) * (in_channels // groups)
    outputs = out_channels * prod(out_spatial)
    macs = terms * outputs
    flops = (2 * terms if bias else 2 * terms - 1) * outputs
    return CallCost(macs=macs, flops=flops)


def transposed_conv_cost(
    kernel_size: Sequence[int],
    in_channels: int,
    out_channels: int,
    groups: int,
    bias: bool,
    in_spatial: Sequence[int],
    out_spatial: Sequence[int],
) -> CallCost:
    """A transposed convolution, counted by scatter.

    Every input element meets every kernel tap of each output channel of its
    group: ``prod(k) * Cin/g * Cout * prod(in)`` multiplies (the count
    ``torch.utils.flop_counter`` makes, not one based on the output size).
    Every output is then one sum of its contributions: ``MACs - Cout*prod(out)``
    adds, plus one add per output for the bias.
    """
    macs = prod(kernel_size) * (in_channels // groups) * out_channels * prod(in_spatial)
    outputs = out_channels * prod(out_spatial)
    flops = 2 * macs - outputs + (outputs if bias else 0)
    return CallCost(macs=macs, flops=flops)


def linear_params(in_features: int, out_features: int, bias: bool) -> int:
    """``in * out`` weights plus ``out`` biases."""
    return in_features * out_features + (out_features if bias else 0)


def linear_cost(in_features: int, out_features: int, bias: bool, positions: int) -> CallCost:
    """``nn.Linear`` as a 1x1 convolution over its input's last dimension.

    ``positions`` is the product of the input's dimensions between the batch
    and the feature dimension (1 for a plain ``(batch, features)`` input).
    """
    return conv_cost((1,), in_features, out_features, 1, bias, (positions,))
