"""A run report as terminal text: the plugin's "conv budget" section and ``diff``'s default format."""

from __future__ import annotations

from ..ci.compare import Comparison, CountMismatch, FigureChange, MeasurementChange, Regression
from .phrases import headline
from ..engine.kinds import count_label
from ..words.vocabulary import DEFAULT_COUNT, FIGURE_LABELS
from ..words.quantity import format_quantity
from .terminal import render_rows
from ..ci.verdict import CHANGED, NEW, NOT_COMPARED, UNCHANGED, RunReport

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


STANDING_TEXT = {NEW: "new", CHANGED: "changed", UNCHANGED: "unchanged since the baseline", NOT_COMPARED: ""}


def regression_text(regression: Regression) -> str:
    """One regression in a line: every figure past the allowance, before -> after, and where it grew."""
    grown = regression.grown_layers()
    where = f"; grew in {', '.join(grown)}" if grown else ""
    figures = ", ".join(
        f"{FIGURE_LABELS[f.figure]} +{f.percent:.1f}% ({format_quantity(f.before)} -> {format_quantity(f.after)})"
        for f in regression.figures
    )
    change = regression.change
    return f"{change.test_id} [{change.name}]: {figures}, more than the {regression.allowed:g}% allowed{where}"


def mismatch_text(mismatch: CountMismatch) -> str:
    """Why a measurement was not compared with its baseline entry."""
    before, after = mismatch.before.measurement, mismatch.after.measurement
    return (
        f"{after.test_id} [{after.name}]: not compared: the baseline counted {count_label(before.cost.count)}, "
        f"this run counts {count_label(after.cost.count)}; save the baseline again to compare these figures"
    )


def flops_by_kind(change: MeasurementChange) -> dict[str, tuple[int, int]]:
    """Per-sample FLOPs of each counted kind, before and after. (Both sides counted the
    same kinds: a measurement counted with other kinds is a mismatch, never a change.)"""
    before = change.before.measurement.cost.by_kind()
    return {
        kind: (before[kind].flops if kind in before else 0, share.flops)
        for kind, share in change.after.measurement.cost.by_kind().items()
    }


def kinds_change_text(change: MeasurementChange, arrow: str = "->") -> str:
    """What a changed measurement counted and each kind's FLOPs before and after, when
    it counted more than the default conv modules; "" otherwise."""
    count = change.after.measurement.cost.count
    if count == DEFAULT_COUNT:
        return ""
    shares = ", ".join(
        f"{kind} {format_quantity(before)} {arrow} {format_quantity(after)}"
        for kind, (before, after) in flops_by_kind(change).items()
    )
    return f"counted {count_label(count)} (FLOPs by kind: {shares})"


def render_text(report: RunReport) -> str:
    """The terminal form: the plugin's "conv budget" section and ``diff``'s default output."""
    lines = comparison_lines(report.comparison, report.baseline_label or "") if report.comparison else []
    if report.over_budget:
        lines.append(f"OVER BUDGET: {len(report.over_budget)} measurement(s) over their limits:")
        for failure in report.over_budget:
            measurement = failure.measurement
            standing = STANDING_TEXT[failure.standing]
            lines.append(f"  {measurement.test_id} [{measurement.name}]" + (f" ({standing})" if standing else ""))
            lines += [f"    {overrun.message()}" for overrun in measurement.overruns]
            costliest = measurement.costliest_line()
            if costliest:
                lines.append(f"    {costliest}")
    if report.regressions:
        lines.append(f"REGRESSION: {len(report.regressions)} measurement(s) grew more than allowed:")
        lines += [f"  {regression_text(regression)}" for regression in report.regressions]
    if report.mismatched:
        lines.append(f"BASELINE MISMATCH: {len(report.mismatched)} measurement(s) counted with other kinds than the baseline:")
        lines += [f"  {mismatch_text(mismatch)}" for mismatch in report.mismatched]
    lines.append(f"conv budget: {headline(report)}")
    return "\n".join(lines) + "\n"


def comparison_lines(comparison: Comparison, baseline_label: str) -> list[str]:
    """Before -> after per changed measurement, its layers, what is new, gone or stale."""
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
            kinds = kinds_change_text(change)
            if kinds:
                lines.append(f"  {change.test_id} [{change.name}] {kinds}")
    for entry in comparison.added:
        lines.append(f"new: {entry.measurement.test_id} [{entry.measurement.name}] "
                     f"({format_quantity(entry.measurement.cost.flops)} FLOPs)")
    for entry in comparison.removed:
        lines.append(f"removed: {entry.measurement.test_id} [{entry.measurement.name}] (in the baseline, not in this run)")
    for change, figure in comparison.stale():
        label = FIGURE_LABELS[figure.figure]
        lines.append(f"stale baseline: {change.test_id} [{change.name}]: {label} fell {-figure.percent:.1f}%: {STALE_NOTE}")
    return lines
