"""The pull-request comment: a verdict, a table of changes, collapsed layer details.

Stays under GitHub's 65,536-character comment limit: layer details are
dropped (and the drop is said) once the body nears it.
"""

from __future__ import annotations

from typing import Sequence

from .compare import Comparison, FigureChange, LayerChange, MeasurementChange, Regression
from .diff_text import percent_text
from .quantity import format_quantity

COMMENT_MARKER = "<!-- pytest-convbudget -->"  # lets a workflow find and update its own comment
GITHUB_COMMENT_LIMIT = 65_536
SIZE_BUDGET = 60_000  # room left for the workflow's own header or footer
DETAIL_ROWS = 40


def arrow(change: FigureChange) -> str:
    """A glance-sized bar: one to three arrows by the size of the change."""
    if change.delta == 0:
        return ""
    size = abs(change.percent)
    count = 1 if size < 5 else 2 if size < 20 else 3
    return ("🔺" if change.delta > 0 else "🔻") * count


def _cell(change: FigureChange) -> str:
    if change.delta == 0:
        return format_quantity(change.after)
    return f"{format_quantity(change.before)} → {format_quantity(change.after)} ({percent_text(change)}) {arrow(change)}"


def verdict(comparison: Comparison, regressions: Sequence[Regression], over_budget: int) -> str:
    total = len(comparison.changes) + len(comparison.added)
    changed = len(comparison.changed)
    if regressions or over_budget:
        problems = []
        if regressions:
            problems.append(f"{len(regressions)} grew past the allowed increase")
        if over_budget:
            problems.append(f"{over_budget} over budget")
        return f"❌ **conv budget**: {changed} of {total} measurements changed; {', '.join(problems)}"
    if changed or comparison.added or comparison.removed:
        return (f"⚠️ **conv budget**: {changed} of {total} measurements changed, "
                f"{len(comparison.added)} new, {len(comparison.removed)} removed; all within limits")
    return f"✅ **conv budget**: no change in {total} measurements"


def _code(text: str) -> str:
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _details(change: MeasurementChange) -> str:
    rows = [
        "| layer | status | FLOPs | params |",
        "| --- | --- | --- | --- |",
    ]
    for layer in change.layers[:DETAIL_ROWS]:
        rows.append(f"| {_code(layer.name)} | {layer.status} | {_layer_flops(layer)} | {_layer_params(layer)} |")
    if len(change.layers) > DETAIL_ROWS:
        rows.append(f"| … {len(change.layers) - DETAIL_ROWS} more | | | |")
    summary = f"{_code(change.name)} in {_code(change.test_id)}: {len(change.layers)} layer(s) changed"
    return "\n".join(["<details>", f"<summary>{summary}</summary>", "", *rows, "", "</details>"])


def _layer_flops(layer: LayerChange) -> str:
    return _cell(layer.flops())


def _layer_params(layer: LayerChange) -> str:
    before = layer.before.params if layer.before else 0
    after = layer.after.params if layer.after else 0
    return _cell(FigureChange("params", before, after))


def render_markdown(
    comparison: Comparison | None,
    regressions: Sequence[Regression] = (),
    over_budget: int = 0,
    measurement_count: int = 0,
) -> str:
    """The comment body. Without a baseline, a short summary of the run instead."""
    if comparison is None:
        head = f"ℹ️ **conv budget**: {measurement_count} measurements, {over_budget} over budget; no baseline to compare with"
        return f"{COMMENT_MARKER}\n{head}\n"
    parts = [COMMENT_MARKER, verdict(comparison, regressions, over_budget), ""]
    changed = comparison.changed
    if changed:
        parts += ["| test | model | params | FLOPs | MACs |", "| --- | --- | --- | --- | --- |"]
        parts += [
            f"| {_code(c.test_id)} | {_code(c.name)} | {_cell(c.figure('params'))} | "
            f"{_cell(c.figure('flops'))} | {_cell(c.figure('macs'))} |"
            for c in changed
        ]
        parts.append("")
    if regressions:
        parts += ["**Grew past the allowed increase:**", *[f"- {r.message()}" for r in regressions], ""]
    for entry in comparison.added:
        m = entry.measurement
        parts.append(f"- new: {_code(m.name)} in {_code(m.test_id)} ({format_quantity(m.cost.flops)} FLOPs)")
    for entry in comparison.removed:
        m = entry.measurement
        parts.append(f"- removed: {_code(m.name)} in {_code(m.test_id)}")
    if comparison.added or comparison.removed:
        parts.append("")
    if comparison.unchanged:
        parts += [f"{len(comparison.unchanged)} unchanged measurement(s) not shown.", ""]
    body = "\n".join(parts)
    left_out = 0
    for change in changed:
        if not change.layers:
            continue
        detail = _details(change) + "\n"
        if len(body) + len(detail) > SIZE_BUDGET:
            left_out += 1
            continue
        body += detail
    if left_out:
        body += f"\n_{left_out} model(s)' layer details left out to stay within GitHub's comment size; see the JSON artifact._\n"
    return body
