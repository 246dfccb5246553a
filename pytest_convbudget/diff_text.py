"""A comparison with a baseline as terminal text (pytest's report and ``diff``)."""

from __future__ import annotations

from typing import Sequence

from .compare import Comparison, FigureChange, Regression
from .config import FIGURE_LABELS
from .quantity import format_quantity
from .table import render_rows

STALE_NOTE = "refresh the baseline"


def percent_text(change: FigureChange) -> str:
    if change.delta == 0:
        return "0%"
    if change.percent == float("inf"):
        return "new"
    return f"{change.percent:+.1f}%"


def change_cell(change: FigureChange) -> str:
    if change.delta == 0:
        return format_quantity(change.after)
    return f"{format_quantity(change.before)} -> {format_quantity(change.after)} ({percent_text(change)})"


def render_comparison(
    comparison: Comparison, regressions: Sequence[Regression], baseline_label: str
) -> list[str]:
    lines = [f"compared with baseline {baseline_label}:"]
    changed = comparison.changed
    if changed:
        rows = [
            [change.test_id, change.name, *(change_cell(change.figure(f)) for f in ("params", "flops", "macs"))]
            for change in changed
        ]
        lines += render_rows(("test", "name", "params", "FLOPs", "MACs"), rows, set())
        for change in changed:
            moved = [layer for layer in change.layers][:5]
            if moved:
                described = ", ".join(
                    f"{layer.name} {layer.status} ({percent_text(layer.flops())} FLOPs)"
                    if layer.status in ("grown", "shrunk") else f"{layer.name} {layer.status}"
                    for layer in moved
                )
                more = len(change.layers) - len(moved)
                lines.append(f"  {change.test_id} [{change.name}] layers: {described}" + (f", and {more} more" if more > 0 else ""))
    lines.append(f"{len(changed)} changed, {len(comparison.unchanged)} unchanged, "
                 f"{len(comparison.added)} new, {len(comparison.removed)} removed")
    for entry in comparison.added:
        lines.append(f"new: {entry.measurement.test_id} [{entry.measurement.name}] "
                     f"({format_quantity(entry.measurement.cost.flops)} FLOPs)")
    for entry in comparison.removed:
        lines.append(f"removed: {entry.measurement.test_id} [{entry.measurement.name}] (in the baseline, not in this run)")
    for change, figure in comparison.stale():
        label = FIGURE_LABELS[figure.figure]
        lines.append(f"stale baseline: {change.test_id} [{change.name}]: {label} fell {-figure.percent:.1f}%: {STALE_NOTE}")
    if regressions:
        lines.append(f"REGRESSION: {len(regressions)} measurement(s) grew more than allowed:")
        lines += [f"  {regression.message()}" for regression in regressions]
    return lines
