"""The pull-request comment: a verdict, every failure, a table of changes, collapsed layer details.

Each measurement is named once: a failing one in the first failure section that
holds it (over budget, then grew past the allowed increase, then not compared),
with everything the others would say about it; regressions that grew in the
same layers share one line; the table holds the other changes. Repeated blocks
are folded (``layers.*.mlp.fc1 ×12``, :mod:`.folding`) unless the report says not.

Stays under GitHub's 65,536-character comment limit: every failing measurement
is named first (by name alone when their full lines would not fit), then the
table, then layer details, each trimmed (and the trim said, pointing to the
page when it is published) once the body nears the limit.

Every name comes from a run file a pull request wrote, so none is written
bare: a name in a table or a list is a code span, a name in a sentence is
:func:`.markup.markdown_text`, and a name inside an HTML block (the details'
``<summary>``, where markdown is not read) is :func:`.markup.summary_code`.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple, Sequence

from ..ci.compare import (
    CountMismatch,
    FigureChange,
    LayerChange,
    MeasurementChange,
    Regression,
    compared_sizes,
)
from ..ci.verdict import (
    CHANGED_WITHIN,
    FAILED,
    INCOMPLETE,
    NO_BASELINE,
    NO_CHANGE,
    WARNED,
    BudgetFailure,
    RunReport,
)
from ..words.quantity import format_against_limit, format_quantity
from ..words.vocabulary import FIGURE_LABELS
from . import folding
from .block_bars import block_chart_lines
from .markup import code_span, markdown_text, summary_code
from .phrases import (
    MISMATCHED_TITLE,
    OUTWEIGHED_TITLE,
    OVER_BUDGET_TITLE,
    REGRESSIONS_TITLE,
    SECTION,
    STANDING_NOTE,
    also_grew,
    change_text,
    costliest_label,
    costliest_layers,
    details_left_out,
    figure_label,
    group_label,
    headline,
    kinds_change_text,
    left_out,
    listed_above,
    mismatch_text,
    not_run_text,
    other_changes_title,
    outweighed_text,
    provenance_line,
    regression_group_text,
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


STATUS_MARK = {FAILED: "❌", INCOMPLETE: "⚠️", WARNED: "⚠️", CHANGED_WITHIN: "⚠️", NO_CHANGE: "✅", NO_BASELINE: "ℹ️"}
SHOWN_FAILURES = 20  # failure lines shown openly; the rest of a long list folds into <details>
TABLE_ROOM = 6_000  # kept for the table of other changes when the failures' full lines would crowd it out


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


def overrun_line(failure: BudgetFailure, regression: Regression | None = None, fold: bool = True,
                 compact: bool = False) -> str:
    """One measurement over budget: each figure, value, limit, overshoot and source; its costliest
    layers; and how far it grew past the allowance when it did. ``compact``: the name alone."""
    measurement = failure.measurement
    named = f"- {code_span(measurement.name)} in {code_span(measurement.test_id)}{STANDING_NOTE[failure.standing]}"
    if compact:
        return named
    figures = "; ".join(
        f"{figure_label(o.figure, measurement.per)} {' > '.join(format_against_limit(o.figure, o.value, o.limit.value))}"
        + ("" if o.limit.value == 0 else f" (+{o.percent_over:.1f}%)")
        + f", limit from {code_span(o.limit.source)}"
        for o in measurement.overruns
    )
    top = ", ".join(f"{code_span(label)} {format_quantity(value)}" for label, value in costliest_layers(measurement, fold))
    costliest = f"; costliest by {costliest_label(measurement)}: {top}" if top else ""
    grew = f"; {also_grew(regression, markdown_text, fold, arrow='→')}" if regression is not None else ""
    return f"{named}: {figures}{costliest}{grew}"


def _details(change: MeasurementChange, fold: bool = True, depth: int | None = None) -> str:
    """One changed model, folded: its blocks as bars before and after, then the layers that moved
    (repeated blocks of one status as one row)."""
    rows = [
        "| layer | status | FLOPs | params |",
        "| --- | --- | --- | --- |",
    ]
    groups = folding.fold_changes(change.layers, fold)
    for group in groups[:DETAIL_ROWS]:
        rows.append(f"| {code_span(group_label(group))} | {group.members[0].status} | {_layer_flops(group)} | "
                    f"{_layer_params(group)} |")
    if len(groups) > DETAIL_ROWS:
        rows.append(f"| … {len(groups) - DETAIL_ROWS} more | | | |")
    summary = f"{summary_code(change.name)} in {summary_code(change.test_id)}: {len(change.layers)} layer(s) changed"
    bars = block_chart_lines(change.before.measurement.cost, change.after.measurement.cost, depth=depth, fold=fold)
    kinds = kinds_change_text(change, arrow="→", show=markdown_text)
    counted = [kinds[0].upper() + kinds[1:] + ".", ""] if kinds else []
    return "\n".join(["<details>", f"<summary>{summary}</summary>", "", *counted, *bars, "", *rows, "", "</details>"])


def _layer_flops(group: folding.Folded[LayerChange]) -> str:
    return _cell(FigureChange("flops", *folding.change_totals(group, "flops")))


def _layer_params(group: folding.Folded[LayerChange]) -> str:
    return _cell(FigureChange("params", *folding.change_totals(group, "params")))


class _Body:
    """Markdown lines that stop growing before GitHub's limit, counting what they leave out."""

    def __init__(self, limit: int, link: Callable[[str], str] | None = None) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.limit = limit
        self.link = link  # to the page, for the notes of what is left out

    def add(self, line: str) -> bool:
        if self.size + len(line) + 1 > self.limit:
            return False
        self.lines.append(line)
        self.size += len(line) + 1
        return True

    def add_all(self, lines: Sequence[str], what: str, weights: Sequence[int] | None = None) -> None:
        """Add lines in order; past the limit, one note says how many (by ``weights``: measurements) were left out."""
        weights = weights or [1] * len(lines)
        for index, line in enumerate(lines):
            if not self.add(line):
                self.lines.append(left_out(sum(weights[index:]), what, self.link))
                return

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class _Section(NamedTuple):
    """A failure section: its title, what it counts, its lines (each naming ``weights[i]`` measurements)."""

    title: str
    count: int
    what: str
    lines: list[str]
    weights: list[int]
    note: str = ""  # the measurements an earlier section named

    def size(self) -> int:
        return sum(len(line) + 1 for line in self.lines) + len(self.title) + len(self.note) + 120


def _failure_section(body: _Body, section: _Section) -> None:
    """A titled list: the first few lines openly, a long rest folded, trimmed before GitHub's limit."""
    if not section.count:
        return
    body.add(f"**{section.title} ({section.count}):**")
    if section.note:
        body.add(section.note)
    lines, weights = section.lines, section.weights
    body.add_all(lines[:SHOWN_FAILURES], section.what, weights)
    rest = lines[SHOWN_FAILURES:]
    if rest and body.lines and not body.lines[-1].startswith("_…"):
        body.add("")
        body.add(f"<details><summary>{sum(weights[SHOWN_FAILURES:])} more {section.what}</summary>")
        body.add("")
        body.add_all(rest, section.what, weights[SHOWN_FAILURES:])
        body.lines.append("")
        body.lines.append("</details>")
    body.add("")


FULL, OPEN_FULL, NAMES = "full", "open lines full", "names"  # how much the failure sections say, most first


def _sections(report: RunReport, detail: str = FULL) -> list[_Section]:
    """The failure sections, each failing measurement in the first that holds it. ``detail``:
    every line FULL; the lines shown openly full and the folded rest by name (OPEN_FULL); or
    every measurement by name alone (NAMES), for a run whose failures would not fit otherwise."""
    fold = report.fold

    def compact(index: int) -> bool:
        return detail == NAMES or (detail == OPEN_FULL and index >= SHOWN_FAILURES)

    regressed = {r.change.after.key: r for r in report.regressions}
    over_title = OVER_BUDGET_TITLE + ("" if report.enforcement == "fail" else f" ({report.enforcement})")
    over = [overrun_line(f, regressed.get(f.entry.key), fold, compact(index))
            for index, f in enumerate(report.over_budget)]
    named = {f.entry.key for f in report.over_budget}
    sections = [_Section(over_title, len(over), "over-budget measurement(s)", over, [1] * len(over))]

    remaining = [r for r in report.regressions if r.change.after.key not in named]
    groups = folding.shared_growth(remaining, fold)
    lines = [f"- {regression_group_text(group, markdown_text, fold, compact(index))}"
             for index, group in enumerate(groups)]
    above = len(report.regressions) - len(remaining)
    sections.append(_Section(REGRESSIONS_TITLE, len(report.regressions), "regression(s)", lines,
                             [len(group) for group in groups],
                             listed_above(above, len(report.regressions), over_title) if above else ""))
    named |= {r.change.after.key for r in remaining}

    mismatched: list[CountMismatch] = [m for m in report.mismatched if m.after.key not in named]
    lines = [f"- {mismatch_text(m, markdown_text)}" if not compact(index) else
             f"- {code_span(m.after.measurement.name)} in {code_span(m.after.measurement.test_id)}"
             for index, m in enumerate(mismatched)]
    above = len(report.mismatched) - len(mismatched)
    sections.append(_Section(MISMATCHED_TITLE, len(report.mismatched), "mismatched measurement(s)", lines,
                             [1] * len(lines), listed_above(above, len(report.mismatched), over_title) if above else ""))
    return sections


def named_in_failures(report: RunReport) -> set[tuple[str, str]]:
    """The measurements the failure sections name: the table leaves them out."""
    return ({f.entry.key for f in report.over_budget} | {r.change.after.key for r in report.regressions}
            | {m.after.key for m in report.mismatched})


def render_markdown(report: RunReport) -> str:
    """The comment body: verdict, every failure, then the other changes, then layer details.

    Sections come in order of importance; each one stops (and says so) when the
    body nears :data:`SIZE_BUDGET`, with room kept for the notes that follow.
    """
    link = (lambda text: _link(text, report.page_url)) if report.page_url else None
    body = _Body(SIZE_BUDGET - NOTE_ROOM, link)
    body.add(COMMENT_MARKER)
    body.add(verdict(report))
    if report.baseline_commit or report.page_url:
        body.add("")
        body.add(provenance_line(report.baseline_commit, report.page_url, show=_commit, link=_link))
    comparison = report.comparison
    if report.over_budget or report.regressions or comparison is not None:
        body.add("")
    for detail in (FULL, OPEN_FULL, NAMES):  # every failing measurement named, in as many words as fit
        sections = _sections(report, detail)
        if body.size + sum(section.size() for section in sections) <= body.limit - TABLE_ROOM:
            break
    for section in sections:
        _failure_section(body, section)
    if report.outweighed:  # budgets that judge the lesser part of their model: said before the tables
        body.add(f"**{OUTWEIGHED_TITLE}** ({len(report.outweighed)}):")
        body.add("")
        body.add_all([f"- {code_span(m.name)} in {code_span(m.test_id)}: {outweighed_text(m, markdown_text)}"
                      for m in report.outweighed], "measurement(s) whose uncounted work outweighs the counted")
        body.add("")
    if comparison is None:
        return body.text().rstrip("\n") + "\n"
    named = named_in_failures(report)
    changed = [c for c in comparison.changed if c.after.key not in named]
    if changed:
        if named:
            body.add(f"**{other_changes_title(len(changed))}:**")
            body.add("")
        sizes = compared_sizes(changed)  # budgeted size figures get a column each
        body.add("| test | model | params | FLOPs | MACs |" + "".join(f" {FIGURE_LABELS[f]} |" for f in sizes))
        body.add("| --- | --- | --- | --- | --- |" + " --- |" * len(sizes))
        body.add_all([
            f"| {code_span(c.test_id)} | {code_span(c.name)} | {_cell(c.figure('params'))} | "
            f"{_cell(c.figure('flops'))} | {_cell(c.figure('macs'))} |"
            + "".join(f" {_cell(found) if (found := c.compares(f)) else '-'} |" for f in sizes)
            for c in changed
        ], "changed measurement(s)")
        body.add("")
    listed = [
        f"- new: {code_span(e.measurement.name)} in {code_span(e.measurement.test_id)} "
        f"({format_quantity(e.measurement.cost.flops)} FLOPs)"
        for e in comparison.added if e.key not in named
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
    for change in comparison.changed:
        if not change.layers:
            continue
        detail = _details(change, report.fold, report.depth) + "\n"
        if len(text) + len(detail) > SIZE_BUDGET:
            left_out_count += 1
            continue
        text += detail
    if left_out_count:
        text += f"\n{details_left_out(left_out_count, link)}\n"
    return text
