"""Plain-text rendering of a :class:`ConvCost`: the per-layer table and totals."""

from __future__ import annotations

from typing import Sequence

from ..engine.kinds import count_label
from ..words.quantity import format_quantity
from ..engine.results import ConvCost, LayerCost, UncountedCall

LAYER_COLUMNS = ("layer", "type", "kernel", "stride", "groups", "bias", "output", "params", "FLOPs", "MACs")
KIND_COLUMNS = ("by kind", "calls", "params", "FLOPs", "MACs")
_NUMERIC = {"params", "FLOPs", "MACs", "calls"}


def _dims(values: Sequence[int] | str) -> str:
    return values if isinstance(values, str) else "x".join(str(value) for value in values)


def layer_row(layer: LayerCost, with_kind: bool = False) -> list[str]:
    """One row; an op's row (a matmul, a functional linear) has no kernel geometry."""
    module = bool(layer.kernel_size)
    return [
        layer.label,
        *([layer.kind] if with_kind else []),
        layer.type,
        _dims(layer.kernel_size),
        _dims(layer.stride),
        str(layer.groups) if module else "",
        "yes" if layer.bias else "no",
        _dims(layer.output_shape),
        f"{layer.params:,}",
        f"{layer.flops:,}",
        f"{layer.macs:,}",
    ]


def render_rows(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[str]) -> list[str]:
    """Align columns; columns named in ``numeric`` are right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = []
    for row in (header, *rows):
        cells = [
            cell.rjust(width) if name in numeric else cell.ljust(width)
            for cell, width, name in zip(row, widths, header)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def exact_and_short(value: int) -> str:
    """``8,163,158,528 (8.16 G)``: the exact count and its short form."""
    return f"{value:,} ({format_quantity(value)})" if value >= 1000 else f"{value:,}"


def render_totals(cost: ConvCost) -> list[str]:
    kinds = count_label(cost.count) if len(cost.count) <= 2 else "counted"
    lines = [
        f"total {kinds} parameters: {exact_and_short(cost.params)}"
        f"   (model parameters: {exact_and_short(cost.model_params)})",
        f"total {kinds} FLOPs: {exact_and_short(cost.flops)} per sample,"
        f" {exact_and_short(cost.total_flops)} for the batch of {cost.batch_size}",
        f"total {kinds} MACs: {exact_and_short(cost.macs)} per sample,"
        f" {exact_and_short(cost.total_macs)} for the batch of {cost.batch_size}",
    ]
    if not cost.per_sample_exact:
        lines.append("note: a layer saw a batch not divisible by the profiled batch size; per-sample figures are rounded")
    if len(cost.count) > 1:
        lines.extend(render_kinds(cost))
    lines.extend(render_notes(cost))
    return lines


def render_kinds(cost: ConvCost) -> list[str]:
    """The per-kind breakdown of the totals, per sample."""
    rows = [
        [kind, str(share.calls), f"{share.params:,}", f"{share.flops:,}", f"{share.macs:,}"]
        for kind, share in cost.by_kind().items()
    ]
    return render_rows(KIND_COLUMNS, rows, _NUMERIC)


def render_notes(cost: ConvCost) -> list[str]:
    """What is NOT in the totals: idle modules, ops of kinds not counted, and extra
    ops inside counted modules."""
    lines = []
    if cost.idle_modules:
        names = ", ".join(f"{idle.name} ({idle.type}, {idle.params:,} params)" for idle in cost.idle_modules)
        lines.append(f"never ran, not in the totals: {names}")
    outside = [call for call in cost.uncounted if not call.inside]
    if outside:
        lines.append(f"not in the totals (count = {', '.join(cost.count)}): " + "; ".join(
            f"{len(calls)} {kind} op(s) ({', '.join(sorted({call.function for call in calls}))}; "
            f"{exact_and_short(sum(call.total_flops for call in calls))} FLOPs for the batch)"
            for kind, calls in _by_kind(outside).items()
        ))
    inside = [call for call in cost.uncounted if call.inside]
    if inside:
        modules = sorted({call.inside for call in inside})
        lines.append(
            f"not in the totals: {len(inside)} extra op(s) inside {', '.join(modules)} beside each module's own"
            f" ({', '.join(sorted({call.function for call in inside}))};"
            f" {exact_and_short(sum(call.total_flops for call in inside))} FLOPs for the batch)"
        )
    if cost.fallback_reason:
        lines.append(f"device: {cost.device}, {cost.fallback_reason}")
    return lines


def render_layers(layers: Sequence[LayerCost], with_kind: bool = False) -> list[str]:
    header = (LAYER_COLUMNS[0], "kind", *LAYER_COLUMNS[1:]) if with_kind else LAYER_COLUMNS
    return render_rows(header, [layer_row(layer, with_kind) for layer in layers], _NUMERIC)


def _by_kind(calls: Sequence[UncountedCall]) -> dict[str, list[UncountedCall]]:
    grouped: dict[str, list[UncountedCall]] = {}
    for call in calls:
        grouped.setdefault(call.kind, []).append(call)
    return grouped


def render_cost(cost: ConvCost) -> str:
    shapes = ", ".join(_dims(shape) for shape in cost.input_shapes) or "no tensor input"
    title = f"{cost.model} on {shapes} ({cost.device}; params, FLOPs and MACs per sample)"
    lines = [title, *render_layers(cost.layers, len(cost.count) > 1), "", *render_totals(cost)]
    return "\n".join(lines)
