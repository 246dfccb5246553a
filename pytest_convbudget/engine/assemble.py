"""Turn the raw calls a profile recorded into a :class:`ConvCost`.

Pure integer arithmetic on shapes: the hooks and the function mode only write
down shapes (and an op's cost, read by its kind's rule), and all counting
happens here, once, after the forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

from ..words.errors import ProfileError
from .formulas import CallCost
from .results import ConvCost, IdleModule, LayerCost, Shape, UncountedCall
from .targets import Target
from .watch import RawCall, RawOp


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
    count: tuple[str, ...]
    fallback_reason: str | None
    weight_bytes: int | None = None
    activation_bytes: int | None = None
    peak_module: str = ""
    live_bytes: tuple[int, ...] = ()
    tokens: int | None = None
    input_value_bytes: int | None = None


class BatchSizeError(ProfileError):
    """The profiled batch size is zero or negative, or cannot be told from the inputs."""


@dataclass(frozen=True)
class _Row:
    """One counted call on its way to a :class:`LayerCost`, built once its call number
    and per-sample share are known (one construction per call: it runs for every layer)."""

    name: str
    layer: Callable[..., LayerCost]  # LayerCost with all but call, flops and macs given
    total_flops: int
    total_macs: int


def split_per_sample(totals: Sequence[int], batch: int) -> tuple[list[int], bool]:
    """Divide each total by ``batch`` so the shares still sum to the rounded total.

    When every total divides evenly the shares are exact. Otherwise (a layer saw
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
    targets: Sequence[Target],
    records: Sequence[RawCall | RawOp],
    uncounted: Sequence[UncountedCall],
    info: RunInfo,
) -> ConvCost:
    batch_size = _profiled_batch(targets, records, info)
    seen_tensors: set[object] = set()
    call_numbers: dict[str, int] = {}
    called: set[int] = set()
    rows = []
    for record in records:
        if isinstance(record, RawCall):
            called.add(record.target)
            row = _module_row(targets[record.target], record, _new_params(targets[record.target].tensors, seen_tensors))
        else:
            row = _op_row(record, _new_params(record.tensors, seen_tensors))
        call_numbers[row.name] = call_numbers.get(row.name, 0) + 1
        rows.append((row, call_numbers[row.name]))
    total_flops = [row.total_flops for row, _ in rows]
    total_macs = [row.total_macs for row, _ in rows]
    flops, flops_exact = split_per_sample(total_flops, batch_size)
    macs, macs_exact = split_per_sample(total_macs, batch_size)
    layers = tuple(
        row.layer(call=number, flops=flops[index], macs=macs[index]) for index, (row, number) in enumerate(rows)
    )
    idle = tuple(
        IdleModule(name=target.name, type=target.facts.type, params=_new_params(target.tensors, seen_tensors))
        for index, target in enumerate(targets)
        if index not in called and not _all_seen(target.tensors, seen_tensors)
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
        count=info.count,
        per_sample_exact=flops_exact and macs_exact,
        weight_bytes=info.weight_bytes,
        activation_bytes=info.activation_bytes,
        peak_module=info.peak_module,
        live_bytes=info.live_bytes,
        tokens=info.tokens,
        input_value_bytes=info.input_value_bytes,
    )


def _module_row(target: Target, raw: RawCall, params: int) -> _Row:
    facts = target.facts
    batch, cost = target.rule.cost(facts, raw.input_shape, raw.output_shape)
    total_flops, total_macs = cost.flops * batch, cost.macs * batch
    layer = partial(
        LayerCost, name=target.name, type=facts.type, kind=target.kind,
        kernel_size=facts.kernel_size, stride=facts.stride, padding=facts.padding, dilation=facts.dilation,
        groups=facts.groups, bias=facts.bias, input_shape=raw.input_shape, output_shape=raw.output_shape,
        batch=batch, params=params, total_flops=total_flops, total_macs=total_macs, output_bytes=raw.output_bytes,
    )
    return _Row(target.name, layer, total_flops, total_macs)


def _op_row(op: RawOp, params: int) -> _Row:
    facts = op.facts
    cost: CallCost = facts.cost
    layer = partial(
        LayerCost, name=op.name, type=op.type, kind=op.kind,
        kernel_size=(), stride=(), padding=(), dilation=(), groups=1, bias=facts.bias,
        input_shape=facts.input_shape, output_shape=facts.output_shape, batch=facts.batch,
        params=params, total_flops=cost.flops, total_macs=cost.macs, output_bytes=op.output_bytes,
    )
    return _Row(op.name, layer, cost.flops, cost.macs)


def _profiled_batch(targets: Sequence[Target], records: Sequence[RawCall | RawOp], info: RunInfo) -> int:
    if info.batch_size is not None:
        batch = info.batch_size
    elif records and isinstance(records[0], RawCall) and _fed_one_unbatched_sample(
        targets[records[0].target], records[0].input_shape, info
    ):
        batch = 1
    elif info.input_batch is not None:
        batch = info.input_batch
    elif records:
        raise BatchSizeError(
            "cannot tell the batch size: no input tensor with a leading (batch) dimension was found; "
            "pass batch_size= to say how many samples the forward ran"
        )
    else:
        batch = 1  # nothing was counted: every figure is 0 whatever the batch
    if batch <= 0:
        raise BatchSizeError(f"cannot count per sample: the profiled batch size is {batch}")
    return batch


def _fed_one_unbatched_sample(target: Target, first_input: Shape, info: RunInfo) -> bool:
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
    if len(first_input) < target.facts.batched_rank:
        return info.input_ndim == len(first_input)
    return info.input_ndim == len(first_input) - 1 and first_input[0] == 1


def _new_params(tensors: Sequence[tuple[object, int]], seen: set[object]) -> int:
    """Params not already counted (tied weights are counted once)."""
    count = 0
    for identity, numel in tensors:
        if identity not in seen:
            seen.add(identity)
            count += numel
    return count


def _all_seen(tensors: Sequence[tuple[object, int]], seen: set[object]) -> bool:
    """A module whose every parameter a counted op consumed did run, through that op."""
    return bool(tensors) and all(identity in seen for identity, _ in tensors)
