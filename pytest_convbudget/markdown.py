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
NOTE_ROOM = 1_000  # kept free for the "left out" notes and the unchanged line


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


class _Body:
    """Markdown lines that stop growing before GitHub's limit, counting what they leave out."""

    def __init__(self, limit: int) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.limit = limit

    def add(self, line: str) -> bool:
        if self.size + len(line) + 1 > self.limit:
            return False
        self.lines.append(line)
        self.size += len(line) + 1
        return True

    def add_all(self, lines: Sequence[str], what: str) -> None:
        """Add lines in order; past the limit, one note says how many were left out."""
        for index, line in enumerate(lines):
            if not self.add(line):
                self.lines.append(f"_… {len(lines) - index} more {what} left out to stay within GitHub's comment size; see the JSON artifact._")
                return

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render_markdown(
    comparison: Comparison | None,
    regressions: Sequence[Regression] = (),
    over_budget: int = 0,
    measurement_count: int = 0,
) -> str:
    """The comment body. Without a baseline, a short summary of the run instead.

    Sections come in order of importance; each one stops (and says so) when the
    body nears :data:`SIZE_BUDGET`, with room kept for the notes that follow.
    """
    if comparison is None:
        head = f"ℹ️ **conv budget**: {measurement_count} measurements, {over_budget} over budget; no baseline to compare with"
        return f"{COMMENT_MARKER}\n{head}\n"
    body = _Body(SIZE_BUDGET - NOTE_ROOM)
    body.add(COMMENT_MARKER)
    body.add(verdict(comparison, regressions, over_budget))
    body.add("")
    changed = comparison.changed
    if changed:
        body.add("| test | model | params | FLOPs | MACs |")
        body.add("| --- | --- | --- | --- | --- |")
        body.add_all([
            f"| {_code(c.test_id)} | {_code(c.name)} | {_cell(c.figure('params'))} | "
            f"{_cell(c.figure('flops'))} | {_cell(c.figure('macs'))} |"
            for c in changed
        ], "changed measurement(s)")
        body.add("")
    if regressions:
        body.add("**Grew past the allowed increase:**")
        body.add_all([f"- {r.message()}" for r in regressions], "regression(s)")
        body.add("")
    listed = [
        f"- new: {_code(e.measurement.name)} in {_code(e.measurement.test_id)} "
        f"({format_quantity(e.measurement.cost.flops)} FLOPs)"
        for e in comparison.added
    ] + [f"- removed: {_code(e.measurement.name)} in {_code(e.measurement.test_id)}" for e in comparison.removed]
    if listed:
        body.add_all(listed, "new or removed measurement(s)")
        body.add("")
    if comparison.unchanged:
        body.lines += [f"{len(comparison.unchanged)} unchanged measurement(s) not shown.", ""]
    text = body.text().rstrip("\n") + "\n"
    left_out = 0
    for change in changed:
        if not change.layers:
            continue
        detail = _details(change) + "\n"
        if len(text) + len(detail) > SIZE_BUDGET:
            left_out += 1
            continue
        text += detail
    if left_out:
        text += f"\n_{left_out} model(s)' layer details left out to stay within GitHub's comment size; see the JSON artifact._\n"
    return text
