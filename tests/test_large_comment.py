"""A comment that stays readable at 500 measurements: ``lm_cases.big_report()`` read as a reviewer reads it.

500 measurements of the causal LM: 60 with a wider FFN and 32 with a wider lm_head grow past the 5%
allowed (92 regressions), 100 change within it, 4 are over a FLOPs limit (two wider FFNs, a wider
head, an unchanged one), the rest are unchanged. The comment names each failing measurement once,
first; regressions that grew in the same layers share a line; every other change is in one
table; the page (published at ``page_url``) has the rest.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from lm_cases import (
    BIG_IDS,
    MEASUREMENTS,
    OVER_LIMIT,
    WIDER_FFN,
    WIDER_HEAD,
    WITHIN,
    big_report,
)
from markdown_it import MarkdownIt

from pytest_convbudget.ci.verdict import RunReport
from pytest_convbudget.render.html.page import render_html
from pytest_convbudget.render.markdown import (
    GITHUB_COMMENT_LIMIT,
    SIZE_BUDGET,
    render_markdown,
)

PAGE = "https://example.github.io/pr-7/conv-budget.html"


@pytest.fixture(scope="module")
def report() -> RunReport:
    return big_report(PAGE)


@pytest.fixture(scope="module")
def comment(report: RunReport) -> str:
    return render_markdown(report)


def listing(comment: str) -> str:
    """The comment before the collapsed layer details: where each measurement is named once."""
    lines = comment.splitlines()
    return "\n".join(lines[:lines.index("<details>")] if "<details>" in lines else lines)


def named(text: str, index: int) -> int:
    """How often the text names measurement ``index`` (the id, closed, so 001 is not 0010)."""
    return len(re.findall(re.escape(BIG_IDS.format(index)) + r"(?![0-9])", text))


def test_the_report_is_the_run_described() -> None:
    report = big_report()
    counts = report.counts
    assert (counts.measurements, counts.changed, counts.regressions, counts.over_budget) == (500, 192, 92, 4)


def test_it_fits_and_names_every_failing_measurement_once_first(report: RunReport, comment: str) -> None:
    """Before this change, this comment was 60,082 characters, named 25 regressions nowhere and
    most changed measurements twice or more."""
    assert len(comment) <= SIZE_BUDGET < GITHUB_COMMENT_LIMIT
    failing = {int(key[0][-4:-1]) for key in
               [f.entry.key for f in report.over_budget] + [r.change.after.key for r in report.regressions]}
    assert len(failing) == 92 + 1  # the unchanged one over its limit
    shown = listing(comment)
    for index in failing:
        assert named(shown, index) == 1, index
    # every changed measurement is in the listing once: a failing one above, the others in the table
    for index in [*WIDER_FFN, *WIDER_HEAD, *WITHIN]:
        assert named(shown, index) == 1, index
    lines = shown.splitlines()
    first_table_row = next(number for number, line in enumerate(lines) if line.startswith("| `"))
    last_failure = max(number for number, line in enumerate(lines) for index in failing if named(line, index))
    assert last_failure < first_table_row  # failures are named before any other change


def test_regressions_that_grew_in_the_same_layers_share_a_line(comment: str) -> None:
    lines = comment.splitlines()
    start = lines.index("**Grew past the allowed increase (92):**")
    assert lines[start + 1] == "_3 of them are listed under Over budget above._"
    head, ffn = lines[start + 2], lines[start + 3]  # in the order of their first: variant-003, then 004
    # a wider FFN (hidden 64 -> 96): FLOPs 3,570,912 -> 4,357,344 (+22.0%), in all 24 fc1 and fc2
    assert ffn.startswith(
        "- 58 measurements grew by params +24.3%, FLOPs +22.0%, MACs +21.9%, more than the 5% allowed; "
        "each grew in `model.layers.*.mlp.fc1 ×12`, `model.layers.*.mlp.fc2 ×12`: ")
    # a wider lm_head (vocab 50 -> 400): its 50,400 FLOPs become 16 * (2*32 - 1) * 400 = 403,200: +9.9%
    assert head.startswith(
        "- 31 measurements grew by params +10.9%, FLOPs +9.9%, MACs +10.0%, more than the 5% allowed; "
        "each grew in lm_head: ")
    assert [named(ffn, index) for index in WIDER_FFN] == [0 if index in OVER_LIMIT else 1 for index in WIDER_FFN]
    assert [named(head, index) for index in WIDER_HEAD] == [0 if index in OVER_LIMIT else 1 for index in WIDER_HEAD]
    assert lines[start + 4] == ""


def test_the_over_budget_lines_say_how_far_they_grew_instead_of_repeating_them(comment: str) -> None:
    lines = comment.splitlines()
    start = lines.index("**Over budget (4):**")
    over = lines[start + 1:start + 5]
    assert [named("\n".join(over), index) for index in OVER_LIMIT] == [1, 1, 1, 1]
    assert over[0].endswith(
        "; grew more than the 5% allowed: params +24.3% (103 k → 128 k), FLOPs +22.0% (3.57 M → 4.36 M), "
        "MACs +21.9% (1.80 M → 2.19 M); grew in `model.layers.*.mlp.fc1 ×12`, `model.layers.*.mlp.fc2 ×12`")
    assert "costliest by FLOPs: `model.layers.*.attn ×12` 1.18 M" in over[0]
    assert over[3].startswith(f"- `CausalLM` in `{BIG_IDS.format(400)}` (unchanged): ")


def test_it_parses_as_markdown_with_whole_tables_and_points_to_the_page(comment: str) -> None:
    tokens = MarkdownIt("commonmark").enable("table").parse(comment)
    html = MarkdownIt("commonmark").enable("table").render(comment)
    assert html.count("<table>") == html.count("</table>") >= 2
    assert comment.count("<details>") == comment.count("</details>")
    table: list[int] = []
    for line in comment.splitlines() + [""]:
        if line.startswith("|"):
            table.append(len(re.split(r"(?<!\\)\|", line)))
        elif table:
            assert len(set(table)) == 1, table
            table = []
    assert any(token.type == "table_open" for token in tokens)
    lines = comment.splitlines()
    assert lines[3] == f"[HTML report]({PAGE})"
    assert "**Other changes (100):**" in lines
    assert lines[-1].endswith(f"left out to stay within GitHub's comment size; [the HTML report]({PAGE}) has them all._")


def test_without_room_for_every_line_each_failure_is_still_named() -> None:
    """With test ids ten times as long, the failures' lines would not fit: the first ones keep
    their figures, the rest are named alone, and the comment still fits."""
    from dataclasses import replace

    from lm_cases import big_runs

    from pytest_convbudget.ci.compare import compare_runs
    from pytest_convbudget.ci.runfile import RunEntry, RunFile
    from pytest_convbudget.ci.verdict import GatePolicy, build_report

    def longer(run: RunFile) -> RunFile:
        return RunFile(tuple(
            RunEntry(replace(e.measurement, test_id=e.measurement.test_id.replace("variant", "v" * 300)), e.outcome)
            for e in run.entries))

    base, head = (longer(run) for run in big_runs())
    assert compare_runs(base, head).changed
    long_report = build_report(head, base, GatePolicy(max_increase=5.0))
    body = render_markdown(long_report)
    assert len(body) <= SIZE_BUDGET
    shown = listing(body)
    for regression in long_report.regressions:
        assert shown.count(regression.change.test_id) == 1
    assert "… " in shown and "more changed measurement(s) left out" in shown


class Alerts(HTMLParser):
    """The page's lists of regressions: items shown, and items folded under "show N more"."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, Any]]] = []
        self.shown: list[str] = []
        self.folded: list[str] = []
        self.summaries: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        classes = [attrs.get("class") or "" for _, attrs in self.stack]
        if self.stack and self.stack[-1][0] == "li" and "cb-alerts cb-regressions" in classes:
            (self.folded if any("cb-more" in c for c in classes) else self.shown).append(data)
        if self.stack and self.stack[-1][0] == "summary" and any("cb-regressions-more" in c for c in classes):
            self.summaries.append(data)


def test_the_page_folds_the_regressions_after_ten(report: RunReport) -> None:
    parser = Alerts()
    parser.feed(render_html(report))
    assert len(parser.shown) == 10 and len(parser.folded) == 82
    assert parser.summaries == ["show 82 more"]
    assert parser.shown[0].startswith(f"{BIG_IDS.format(0)} [CausalLM]: ")
    assert "grew in model.layers.*.mlp.fc1 ×12, model.layers.*.mlp.fc2 ×12" in parser.shown[0]
    assert len(set(parser.shown + parser.folded)) == 92
    assert MEASUREMENTS == 500
