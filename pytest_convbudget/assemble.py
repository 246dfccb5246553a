"""Turn the raw calls a profile recorded into a :class:`ConvCost`.

Pure integer arithmetic on shapes: the hooks only write down shapes, and all
counting happens here, once, after the forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Sequence

from .errors import ProfileError
from .formulas import CallCost, conv_cost, linear_cost, transposed_conv_cost
from .results import ConvCost, IdleModule, LayerCost, Shape, UncountedCall
from .targets import LayerSpec


@dataclass(frozen=True)
class RawCall:
    """One hooked call: which module, and the shapes it saw."""

    target: int
    input_shape: Shape
    output_shape: Shape


@dataclass(frozen=True)
class RunInfo:
    """Facts about the profiled forward that are not per call."""

    model: str
    device: str
    model_params: int
    input_shapes: tuple[Shape, ...]
    input_batch: int | None  # leading dim of the first tensor input, None if it has none
    input_ndim: int | None  # dimensions of the first tensor input
    batch_size: int | None  # given by the user
    include_linear: bool
    fallback_reason: str | None


class BatchSizeError(ProfileError):
    """The profiled batch size is zero or negative."""


def is_batched(spec: LayerSpec, input_shape: Shape) -> bool:
    """A conv input is batched when it has ``spatial dims + 2`` dimensions."""
    return len(input_shape) >= (2 if spec.kind == "linear" else spec.spatial_dims + 2)


def call_batch(spec: LayerSpec, input_shape: Shape) -> int:
    """The batch of one call: the leading dim of a batched input, else 1."""
    return input_shape[0] if is_batched(spec, input_shape) else 1


def call_cost(spec: LayerSpec, input_shape: Shape, output_shape: Shape) -> CallCost:
    """The per-sample cost of one call of ``spec``."""
    if spec.kind == "linear":
        positions = prod(input_shape[1:-1]) if len(input_shape) >= 2 else 1
        return linear_cost(spec.in_channels, spec.out_channels, spec.bias, positions)
    out_spatial = output_shape[len(output_shape) - spec.spatial_dims :]
    if spec.kind == "transposed":
        in_spatial = input_shape[len(input_shape) - spec.spatial_dims :]
        return transposed_conv_cost(
            spec.kernel_size, spec.in_channels, spec.out_channels, spec.groups, spec.bias,
            in_spatial, out_spatial,
        )
    return conv_cost(
        spec.kernel_size, spec.in_channels, spec.out_channels, spec.groups, spec.bias, out_spatial
    )


def split_per_sample(totals: Sequence[int], batch: int) -> tuple[list[int], bool]:
    """Divide each total by ``batch`` so the shares still sum to the rounded total.

    When every total divides evenly the shares are exact. Otherwise (a conv saw
    part of the batch) the sum is rounded half up and the remainders are
    handed out largest first, so the layers always add up to the reported figure.
    """
    floors = [total // batch for total in totals]
    remainders = [total % batch for total in totals]
    if not any(remainders):
        return floors, True
    target = (sum(totals) * 2 + batch) // (2 * batch)
    missing = target - sum(floors)
    order = sorted(range(len(totals)), key=lambda index: -remainders[index])
    for index in order[:missing]:
        floors[index] += 1
    return floors, False


def assemble(
    specs: Sequence[LayerSpec],
    calls: Sequence[RawCall],
    uncounted: Sequence[UncountedCall],
    info: RunInfo,
) -> ConvCost:
    batch_size = _profiled_batch(specs, calls, info)
    seen_tensors: set[object] = set()
    call_numbers: dict[int, int] = {}
    rows = []
    for raw in calls:
        spec = specs[raw.target]
        call_numbers[raw.target] = call_numbers.get(raw.target, 0) + 1
        batch = call_batch(spec, raw.input_shape)
        cost = call_cost(spec, raw.input_shape, raw.output_shape)
        params = _new_params(spec, seen_tensors)
        rows.append((spec, call_numbers[raw.target], raw, batch, cost, params))
    total_flops = [cost.flops * batch for _, _, _, batch, cost, _ in rows]
    total_macs = [cost.macs * batch for _, _, _, batch, cost, _ in rows]
    flops, flops_exact = split_per_sample(total_flops, batch_size)
    macs, macs_exact = split_per_sample(total_macs, batch_size)
    layers = tuple(
        LayerCost(
            name=spec.name,
            call=number,
            type=spec.type,
            kind=spec.kind,
            kernel_size=spec.kernel_size,
            stride=spec.stride,
            padding=spec.padding,
            dilation=spec.dilation,
            groups=spec.groups,
            bias=spec.bias,
            input_shape=raw.input_shape,
            output_shape=raw.output_shape,
            batch=batch,
            params=params,
            flops=flops[index],
            macs=macs[index],
            total_flops=total_flops[index],
            total_macs=total_macs[index],
        )
        for index, (spec, number, raw, batch, cost, params) in enumerate(rows)
    )
    idle = tuple(
        IdleModule(name=spec.name, type=spec.type, params=_new_params(spec, seen_tensors))
        for index, spec in enumerate(specs)
        if index not in call_numbers
    )
    return ConvCost(
        model=info.model,
        params=sum(layer.params for layer in layers),
        flops=sum(flops),
        macs=sum(macs),
        total_flops=sum(total_flops),
        total_macs=sum(total_macs),
        batch_size=batch_size,
        device=info.device,
        model_params=info.model_params,
        input_shapes=info.input_shapes,
        layers=layers,
        idle_modules=idle,
        uncounted=tuple(uncounted),
        fallback_reason=info.fallback_reason,
        include_linear=info.include_linear,
        per_sample_exact=flops_exact and macs_exact,
    )


def _profiled_batch(specs: Sequence[LayerSpec], calls: Sequence[RawCall], info: RunInfo) -> int:
    if info.batch_size is not None:
        batch = info.batch_size
    elif calls and _fed_one_unbatched_sample(specs[calls[0].target], calls[0].input_shape, info):
        batch = 1
    else:
        batch = info.input_batch if info.input_batch is not None else 1
    if batch <= 0:
        raise BatchSizeError(f"cannot count per sample: the profiled batch size is {batch}")
    return batch


def _fed_one_unbatched_sample(spec: LayerSpec, first_input: Shape, info: RunInfo) -> bool:
    """Whether the model's input is one unbatched sample, judged at the first counted call.

    - ``(3, 224, 224)`` straight into a Conv2d: the call is unbatched and of the
      input's rank: one sample.
    - ``(3, 32, 32)`` that the model unsqueezes to ``(1, 3, 32, 32)``: the input is
      one rank short of a batched call and the call's batch is 1: one sample.
    - A ``(2, 3, 8, 8)`` batch looped over sample by sample: unbatched calls, but
      the input has the batched rank, so the batch is 2.
    - ``(B, T)`` audio unsqueezed to ``(B, 1, T)`` for a Conv1d: one rank short,
      but the call's batch is ``B``, so the batch is ``B``.
    """
    if info.input_ndim is None:
        return False
    if not is_batched(spec, first_input):
        return info.input_ndim == len(first_input)
    return info.input_ndim == len(first_input) - 1 and first_input[0] == 1


def _new_params(spec: LayerSpec, seen: set[object]) -> int:
    """Params of ``spec`` not already counted (tied weights are counted once)."""
    count = 0
    for identity, numel in spec.tensors:
        if identity not in seen:
            seen.add(identity)
            count += numel
    return count
