"""The pull-request comment: a verdict, every failure, a table of changes, collapsed layer details.

Stays under GitHub's 65,536-character comment limit: layer details are
dropped (and the drop is said) once the body nears it.

Every name comes from a run file a pull request wrote, so none is written
bare: a name in a table or a list is a code span, a name in a sentence is
:func:`.markup.markdown_text`, and a name inside an HTML block (the details'
``<summary>``, where markdown is not read) is :func:`.markup.summary_code`.
"""

from __future__ import annotations

import re
from typing import Sequence

from ..ci.compare import FigureChange, LayerChange, MeasurementChange
from ..ci.verdict import (
    CHANGED_WITHIN,
    FAILED,
    NO_BASELINE,
    NO_CHANGE,
    WARNED,
    BudgetFailure,
    RunReport,
)
from ..words.quantity import format_quantity
from ..words.vocabulary import FIGURE_LABELS
from .block_bars import block_chart_lines
from .markup import code_span, markdown_text, summary_code
from .phrases import (
    MISMATCHED_TITLE,
    OVER_BUDGET_TITLE,
    REGRESSIONS_TITLE,
    SECTION,
    STANDING_NOTE,
    change_text,
    details_left_out,
    headline,
    kinds_change_text,
    left_out,
    mismatch_text,
    not_run_text,
    provenance_line,
    regression_text,
    unchanged_not_shown,
)

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
    return change_text(change, "→") + (f" {arrow(change)}" if change.delta else "")


STATUS_MARK = {FAILED: "❌", WARNED: "⚠️", CHANGED_WITHIN: "⚠️", NO_CHANGE: "✅", NO_BASELINE: "ℹ️"}
SHOWN_FAILURES = 20  # failures listed openly; the rest of a long list folds into <details>
FOLDED_ROOM = 12_000  # at most this much folded per list, so the lists after it still get their share


_SHA = re.compile(r"[0-9a-f]{7,64}")
_URL = re.compile(r"https://[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]+")


def _commit(commit: str) -> str:
    """A hex SHA as GitHub links it (bare text); anything else as code."""
    return commit if _SHA.fullmatch(commit) else code_span(commit)


def _link(text: str, url: str) -> str:
    """A markdown link to an https URL without brackets, parentheses or spaces; any other URL as code."""
    return f"[{text}]({url})" if _URL.fullmatch(url) and "(" not in url and ")" not in url else f"{text}: {code_span(url)}"


def verdict(report: RunReport) -> str:
    """The comment's first visible line: a mark, then the headline every format shares."""
    return f"{STATUS_MARK[report.status]} **{SECTION}**: {headline(report)}"


def overrun_line(failure: BudgetFailure) -> str:
    """One measurement over budget: each figure, value, limit, overshoot and source; then its costliest layers."""
    measurement = failure.measurement
    figures = "; ".join(
        f"{FIGURE_LABELS[o.figure]} {format_quantity(o.value)} > {format_quantity(o.limit.value)}"
        + ("" if o.limit.value == 0 else f" (+{o.percent_over:.1f}%)")
        + f", limit from {code_span(o.limit.source)}"
        for o in measurement.overruns
    )
    top = ", ".join(f"{code_span(label)} {format_quantity(value)}" for label, value in measurement.costliest_layers())
    costliest = f"; costliest by {FIGURE_LABELS[measurement.costliest_figure]}: {top}" if top else ""
    return (f"- {code_span(measurement.name)} in {code_span(measurement.test_id)}{STANDING_NOTE[failure.standing]}: "
            f"{figures}{costliest}")


def _details(change: MeasurementChange) -> str:
    """One changed model, folded: its top-level blocks as bars before and after, then the layers that moved."""
    rows = [
        "| layer | status | FLOPs | params |",
        "| --- | --- | --- | --- |",
    ]
    for layer in change.layers[:DETAIL_ROWS]:
        rows.append(f"| {code_span(layer.name)} | {layer.status} | {_layer_flops(layer)} | {_layer_params(layer)} |")
    if len(change.layers) > DETAIL_ROWS:
        rows.append(f"| … {len(change.layers) - DETAIL_ROWS} more | | | |")
    summary = f"{summary_code(change.name)} in {summary_code(change.test_id)}: {len(change.layers)} layer(s) changed"
    bars = block_chart_lines(change.before.measurement.cost, change.after.measurement.cost)
    kinds = kinds_change_text(change, arrow="→", show=markdown_text)
    counted = [kinds[0].upper() + kinds[1:] + ".", ""] if kinds else []
    return "\n".join(["<details>", f"<summary>{summary}</summary>", "", *counted, *bars, "", *rows, "", "</details>"])


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

    def add_all(self, lines: Sequence[str], what: str, room: int | None = None) -> None:
        """Add lines in order; past the limit (or past ``room`` more characters), one note says how many were left out."""
        stop = self.size + room if room is not None else self.limit
        for index, line in enumerate(lines):
            if self.size + len(line) + 1 > stop or not self.add(line):
                self.lines.append(left_out(len(lines) - index, what))
                return

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _failure_section(body: _Body, title: str, lines: Sequence[str], what: str) -> None:
    """A titled list: the first few openly, a long rest folded, all of it trimmed before GitHub's limit."""
    if not lines:
        return
    body.add(f"**{title} ({len(lines)}):**")
    body.add_all(lines[:SHOWN_FAILURES], what)
    rest = lines[SHOWN_FAILURES:]
    if rest and len(body.lines) and not body.lines[-1].startswith("_…"):
        body.add("")
        body.add(f"<details><summary>{len(rest)} more {what}</summary>")
        body.add("")
        body.add_all(rest, what, room=FOLDED_ROOM)
        body.lines.append("")
        body.lines.append("</details>")
    body.add("")


def render_markdown(report: RunReport) -> str:
    """The comment body: verdict, every failure, then what changed, then layer details.

    Sections come in order of importance; each one stops (and says so) when the
    body nears :data:`SIZE_BUDGET`, with room kept for the notes that follow.
    """
    body = _Body(SIZE_BUDGET - NOTE_ROOM)
    body.add(COMMENT_MARKER)
    body.add(verdict(report))
    if report.baseline_commit or report.page_url:
        body.add("")
        body.add(provenance_line(report.baseline_commit, report.page_url, show=_commit, link=_link))
    comparison = report.comparison
    if report.over_budget or report.regressions or comparison is not None:
        body.add("")
    over_title = OVER_BUDGET_TITLE + ("" if report.enforcement == "fail" else f" ({report.enforcement})")
    _failure_section(body, over_title, [overrun_line(f) for f in report.over_budget], "over-budget measurement(s)")
    _failure_section(body, REGRESSIONS_TITLE, [f"- {regression_text(r, markdown_text)}" for r in report.regressions],
                     "regression(s)")
    _failure_section(body, MISMATCHED_TITLE,
                     [f"- {mismatch_text(m, markdown_text)}" for m in report.mismatched], "mismatched measurement(s)")
    if comparison is None:
        return body.text().rstrip("\n") + "\n"
    changed = comparison.changed
    if changed:
        body.add("| test | model | params | FLOPs | MACs |")
        body.add("| --- | --- | --- | --- | --- |")
        body.add_all([
            f"| {code_span(c.test_id)} | {code_span(c.name)} | {_cell(c.figure('params'))} | "
            f"{_cell(c.figure('flops'))} | {_cell(c.figure('macs'))} |"
            for c in changed
        ], "changed measurement(s)")
        body.add("")
    listed = [
        f"- new: {code_span(e.measurement.name)} in {code_span(e.measurement.test_id)} "
        f"({format_quantity(e.measurement.cost.flops)} FLOPs)"
        for e in comparison.added
    ] + [f"- removed: {code_span(e.measurement.name)} in {code_span(e.measurement.test_id)}" for e in comparison.removed]
    if listed:
        body.add_all(listed, "new or removed measurement(s)")
        body.add("")
    if comparison.not_run:
        body.lines += [f"_{not_run_text(len(comparison.not_run))}._", ""]
    if comparison.unchanged:
        body.lines += [unchanged_not_shown(len(comparison.unchanged)), ""]
    text = body.text().rstrip("\n") + "\n"
    left_out_count = 0
    for change in changed:
        if not change.layers:
            continue
        detail = _details(change) + "\n"
        if len(text) + len(detail) > SIZE_BUDGET:
            left_out_count += 1
            continue
        text += detail
    if left_out_count:
        text += f"\n{details_left_out(left_out_count)}\n"
    return text
