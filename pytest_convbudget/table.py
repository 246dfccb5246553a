"""Plain-text rendering of a :class:`ConvCost`: the per-layer table and totals."""

from __future__ import annotations

from typing import Sequence

from .kinds import count_label
from .quantity import format_quantity
from .results import ConvCost, LayerCost

LAYER_COLUMNS = ("layer", "type", "kernel", "stride", "groups", "bias", "output", "params", "FLOPs", "MACs")
_NUMERIC = {"params", "FLOPs", "MACs"}


def _dims(values: Sequence[int] | str) -> str:
    return values if isinstance(values, str) else "x".join(str(value) for value in values)


def layer_row(layer: LayerCost) -> list[str]:
    return [
        layer.label,
        layer.type,
        _dims(layer.kernel_size),
        _dims(layer.stride),
        str(layer.groups),
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
    kinds = count_label(cost.count)
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
    lines.extend(render_notes(cost))
    return lines


def render_notes(cost: ConvCost) -> list[str]:
    """What is NOT in the totals: idle modules and convs outside counted modules."""
    lines = []
    if cost.idle_modules:
        names = ", ".join(f"{idle.name} ({idle.type}, {idle.params:,} params)" for idle in cost.idle_modules)
        lines.append(f"never ran, not in the totals: {names}")
    if cost.uncounted:
        flops = sum(call.total_flops for call in cost.uncounted)
        functions = sorted({call.function for call in cost.uncounted})
        outside = sum(1 for call in cost.uncounted if not call.inside)
        inside = sorted({call.inside for call in cost.uncounted if call.inside})
        where = [f"{outside} outside any counted module"] if outside else []
        if inside:
            where.append(f"{len(cost.uncounted) - outside} extra inside {', '.join(inside)}")
        lines.append(
            f"not in the totals: {len(cost.uncounted)} conv op(s) the module hooks could not count"
            f" ({'; '.join(where)}; {', '.join(functions)}; {exact_and_short(flops)} FLOPs for the batch)"
        )
    if cost.fallback_reason:
        lines.append(f"device: {cost.device}, {cost.fallback_reason}")
    return lines


def render_layers(layers: Sequence[LayerCost]) -> list[str]:
    return render_rows(LAYER_COLUMNS, [layer_row(layer) for layer in layers], _NUMERIC)


def render_cost(cost: ConvCost) -> str:
    shapes = ", ".join(_dims(shape) for shape in cost.input_shapes) or "no tensor input"
    title = f"{cost.model} on {shapes} ({cost.device}; params, FLOPs and MACs per sample)"
    lines = [title, *render_layers(cost.layers), "", *render_totals(cost)]
    return "\n".join(lines)
