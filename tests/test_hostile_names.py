"""Names from a run file stay inert in every output (issue 17, item 4).

A pull request's code writes the run file that trusted code renders into a
terminal report, a PR comment, a comparison JSON and an HTML page. Here every
string field of two runs (test ids, measurement names, module paths, layer
types and kinds, model classes, limit sources, devices, fallback reasons,
uncounted calls, idle modules, the environment) holds markup, links, mentions,
bidi overrides, zero-width and control characters, and each output is read as
its reader meets it: the comment through a CommonMark parser, the page through
an HTML parser, the terminal text and the JSON as they are written.
"""

from __future__ import annotations

import html

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from pytest_convbudget.budgets.measurement import Measurement
from pytest_convbudget.budgets.pyproject import Limit
from pytest_convbudget.ci.runfile import RunEntry, RunFile, load_run_file
from pytest_convbudget.ci.verdict import GatePolicy, RunReport, build_report
from pytest_convbudget.engine.results import (
    ConvCost,
    IdleModule,
    LayerCost,
    UncountedCall,
)
from pytest_convbudget.render import phrases
from pytest_convbudget.render.markup import (
    code_span,
    html_code,
    inert,
    markdown_text,
    summary_code,
    visible,
)
from pytest_convbudget.render.outputs import render
from pytest_convbudget.render.terminal import render_cost, summary_lines

HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # what must never reach a reader raw
BIDI_AND_ZERO_WIDTH = (
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"  # bidi controls
    "\u200b\u200c\u200d\u2060\ufeff\u2028\u2029"  # zero-width; line and paragraph separators
)
HOSTILE = (
    "`|<img src=x onerror=alert(1)></script><script>alert(1)</script><a href=https://evil>a</a>"
    " [x](https://evil) ![x](https://evil/p.png) <https://evil> @someone #123 www.evil.com *em* _u_ "
    + BIDI_AND_ZERO_WIDTH
    + "\n- [x] \r\t\x1b[31m\x00\x7f\x85\x9b|"
)
MARKERS = ("onerror", "@someone", "#123", "https://evil", "www.evil", "<script", "[x]")  # never outside code


def h(tag: str) -> str:
    """A hostile string, told apart from the others by its tag."""
    return f"{tag}{HOSTILE}"


def layer(name: str, flops: int, type_: str = "", kind: str = "conv", call: int = 1) -> LayerCost:
    return LayerCost(
        name=name, call=call, type=type_ or h("Conv2d"), kind=kind, kernel_size=(3, 3), stride=(1, 1),
        padding=(1, 1), dilation=(1, 1), groups=1, bias=True, input_shape=(1, 3, 8, 8), output_shape=(1, 8, 8, 8),
        batch=1, params=flops // 10, flops=flops, macs=flops // 2, total_flops=flops, total_macs=flops // 2,
    )


def cost(layers: Iterable[LayerCost], count: tuple[str, ...] = ("conv",), **extra: Any) -> ConvCost:
    layers = tuple(layers)
    params, flops, macs = (sum(getattr(item, figure) for item in layers) for figure in ("params", "flops", "macs"))
    return ConvCost(
        model=h("Model"), params=params, flops=flops, macs=macs, total_flops=flops, total_macs=macs, batch_size=1,
        device=h("device"), model_params=params, input_shapes=((1, 3, 8, 8),), layers=layers, count=count, **extra,
    )


def measurement(test: str, name: str, measured: ConvCost, limit: int | None = None) -> Measurement:
    limits = () if limit is None else (Limit("flops", limit, h("source")),)
    return Measurement(test_id=h(test), name=h(name), index=0, cost=measured, per="sample", limits=limits)


BLOCK, STEM = h("block") + ".conv", h("stem") + ".conv"
NOTED = cost(
    [layer(STEM, 500), layer(STEM, 500, call=2)],
    idle_modules=(IdleModule(h("idle"), h("IdleType"), 7),),
    uncounted=(
        UncountedCall(h("fn"), (1,), (1,), (1,), 99, 50),
        UncountedCall(h("fn2"), (1,), (1,), (1,), 9, 5, h("inside")),
    ),
    fallback_reason=h("fallback"),
)


def runs(kind: str = h("kind")) -> tuple[RunFile, RunFile]:
    """main's run and a pull request's: one model grew past the gate and its budget, one shrank,
    one is new and over budget (with notes), one went, one is counted with another kind (a hostile
    one, unless given: a run file's kinds are checked when it is read, its names are not)."""
    base = [
        measurement("tests/t.py::test_grew", "grew", cost([layer(BLOCK, 100), layer(h("gone"), 50)]), 200),
        measurement("tests/t.py::test_shrank", "shrank", cost([layer(BLOCK, 400)])),
        measurement("tests/t.py::test_gone", "old", cost([layer(BLOCK, 100)])),
        measurement("tests/t.py::test_kinds", "kinds", cost([layer(BLOCK, 100)])),
    ]
    head = [
        measurement("tests/t.py::test_grew", "grew", cost([layer(BLOCK, 300), layer(h("added"), 80)]), 200),
        measurement("tests/t.py::test_shrank", "shrank", cost([layer(BLOCK, 100)])),
        measurement("tests/t.py::test_new", "fresh", NOTED, 10),
        measurement("tests/t.py::test_kinds", "kinds", cost([layer(BLOCK, 100, kind=kind)], ("conv", kind))),
    ]
    environment = {h("python"): h("3.11"), "device": h("cuda")}

    def run(measured: list[Measurement]) -> RunFile:
        return RunFile(tuple(RunEntry(m, "passed") for m in measured), environment)

    return run(base), run(head)


@pytest.fixture(scope="module")
def report() -> RunReport:
    base, head = runs()
    found = build_report(head, base, GatePolicy(override=5.0), h("baseline.json"))
    assert found.regressions and found.over_budget and found.mismatched  # every finding is drawn
    assert found.comparison and found.comparison.added and found.comparison.removed and found.comparison.stale()
    return found


def block(layer_name: str) -> str:
    """The top-level block a layer's name falls in (a hostile name holds dots too)."""
    return layer_name.split(".")[0]


def comment_names() -> list[str]:
    """What the comment names: every test and measurement, the limits' source, the kind the baseline
    lacked, and the changed layers, their blocks and the costliest layers."""
    ids = [h(f"tests/t.py::test_{test}") for test in ("grew", "shrank", "new", "gone", "kinds")]
    layers = [BLOCK, h("gone"), h("added"), STEM]
    return [*ids, *map(h, ("grew", "shrank", "fresh", "old", "kinds", "source", "kind")), *layers,
            *map(block, layers[:3])]


# Any text, and text made of what markdown, HTML and terminals treat specially.
NAMES = st.text() | st.text(st.sampled_from(list("ab1 _*`|[]()!<>@#:.-/\\&;~$^=+\n\t\x1b\u202e\u200b")))


def raw_hidden(text: str, allowed: str = "\n") -> list[str]:
    return sorted({char for char in text if char not in allowed and unicodedata.category(char) in HIDDEN})


# -- visible and its wrappers -----------------------------------------------------------------


@given(NAMES)
def test_visible_leaves_no_hidden_character_and_is_idempotent(text: str) -> None:
    shown = visible(text)
    assert raw_hidden(shown, "") == []
    assert visible(shown) == shown
    assert raw_hidden(code_span(text), "") == [] and raw_hidden(html_code(text), "") == []


@given(st.text(st.characters(blacklist_categories=tuple(HIDDEN))))
def test_visible_is_the_identity_on_text_without_hidden_characters(text: str) -> None:
    assert visible(text) == text


def test_visible_writes_each_hidden_character_as_its_escape() -> None:
    assert visible("a\nb\r\t\x1b[31m\x00\x7f\x85") == "a\\nb\\r\\t\\x1b[31m\\x00\\x7f\\x85"
    shown = visible("\u202eevil\u2066\u200b\ufeff\u2028\U000e0041")
    assert shown == "\\u202eevil\\u2066\\u200b\\ufeff\\u2028\\U000e0041"


ORDINARY = [
    "tests/test_x.py::test_a[resnet18-224]", "tests/test_x.py::TestNet::test_b[cpu-1]", "layer1.0.conv1",
    "features.denseblock1.denselayer1.conv1", "UNet3D", "new student", "pyproject.toml [tool.convbudget] flops",
    "test_examples.py::test_unet3d_volume", "enc1.0", "Conv2d", "conv", "a__b", "Ünïcödé.模型",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_names_read_as_themselves(text: str) -> None:
    assert inert(text) and visible(text) == text and markdown_text(text) == text
    assert code_span(text) == f"`{text}`" and summary_code(text) == f"<code>{html.escape(text)}</code>"


@pytest.mark.parametrize("text", [
    "@someone", "#123", "owner/repo#1", "[x](https://evil)", "![x](https://evil/p.png)", "<img src=x>", "www.evil.com",
    "https://evil", "_x_", "__init__", "*em*", "~~s~~", "$x$", "a:smile:b", "1. item", "- item", "> quote", "a&amp;b",
    "a`b", "a|b", "a\\b", "a\u202eb", "a\nb",
])
def test_names_that_could_be_markup_are_code_in_a_sentence(text: str) -> None:
    assert not inert(text)
    assert markdown_text(text) == code_span(text)
    assert summary_code(text) == html_code(text)


@given(NAMES)
def test_a_name_in_a_markdown_sentence_is_never_markup(text: str) -> None:
    name = markdown_text(text)
    html = MarkdownIt("commonmark").render(f"- {name} [{name}]: grew in {name}, {name}\n")
    assert Page.of(html).tags <= {"ul", "li", "code"}


@given(NAMES)
def test_a_name_in_a_table_cell_keeps_the_row_whole(text: str) -> None:
    table = f"| a | b |\n| --- | --- |\n| {code_span(text)} | x |\n"
    page = Page.of(MarkdownIt("commonmark").enable("table").render(table))
    assert page.tags <= {"table", "thead", "tbody", "tr", "th", "td", "code"}
    assert page.row_lengths == [2, 2]
    assert page.cells[-1] == "x"


@given(NAMES)
def test_a_name_in_a_details_summary_is_escaped_code(text: str) -> None:
    html = MarkdownIt("commonmark").render(f"<details>\n<summary>{summary_code(text)} in x</summary>\n\n</details>\n")
    assert Page.of(html).tags <= {"details", "summary", "code"}


# -- the outputs ------------------------------------------------------------------------------


class Page(HTMLParser):
    """The elements, attributes and text of an HTML document, as a browser's parser meets them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str, str]] = []
        self.open: list[str] = []
        self.code: list[str] = []  # text inside <code>
        self.outside: list[str] = []  # text outside <code>, <script> and <style>
        self.scripts: list[str] = []
        self.row_lengths: list[int] = []
        self.cells: list[str] = []

    @classmethod
    def of(cls, html: str) -> Page:
        page = cls()
        page.feed(html)
        page.close()
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        if tag not in ("meta", "br", "hr", "img", "input"):
            self.open.append(tag)
        if tag == "tr":
            self.row_lengths.append(0)
        if tag in ("td", "th"):
            self.row_lengths[-1] += 1
            self.cells.append("")
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]

    def handle_data(self, data: str) -> None:
        if "script" in self.open:
            self.scripts[-1] += data
        elif "code" in self.open:
            self.code.append(data)
        elif "style" not in self.open:
            self.outside.append(data)
        if {"td", "th"} & set(self.open):
            self.cells[-1] += data


def shown_forms(name: str) -> set[str]:
    """How a name may read inside code: as is, with backticks as quotes, and with pipes escaped (a code span)."""
    text = visible(name)
    return {text, text.replace("`", "'"), text.replace("`", "'").replace("|", "\\|")}


def test_the_comment_shows_every_name_as_code_and_nothing_else(report: RunReport) -> None:
    comment = render(report, "markdown")
    assert raw_hidden(comment) == []
    page = Page.of(MarkdownIt("commonmark").enable("table").render(comment))
    assert page.tags <= {"p", "strong", "em", "code", "ul", "li", "table", "thead", "tbody", "tr", "th", "td",
                         "details", "summary"}
    assert page.attributes == []  # no link, image, handler or style from a name
    outside = "".join(page.outside)
    for marker in (*MARKERS, "@", "</"):
        assert marker not in outside, marker
    code = "\n".join(page.code)
    for name in comment_names():
        assert any(form in code for form in shown_forms(name)), name


def test_every_table_in_the_comment_has_whole_rows(report: RunReport) -> None:
    comment = render(report, "markdown")
    table: list[int] = []
    for line in comment.splitlines() + [""]:
        if line.startswith("|"):
            table.append(len(re.split(r"(?<!\\)\|", line)))  # GFM: a pipe after a backslash is text
        elif table:
            assert len(set(table)) == 1, table
            table = []
    cells = Page.of(MarkdownIt("commonmark").enable("table").render(comment)).cells
    # test_grew failed (over budget and grown), so the failure sections name it, not the table
    for name in (h("tests/t.py::test_shrank"), h("shrank"), BLOCK, h("gone"), h("added"), block(BLOCK)):
        assert visible(name).replace("`", "'") in cells, name  # each whole, in a cell of its own


def test_the_terminal_shows_every_name_visibly_and_sends_no_control(report: RunReport) -> None:
    measured = [entry.measurement for entry in runs()[1].entries]
    text = "\n".join([render(report, "text"), render_cost(NOTED), *summary_lines(measured, "fail", True)])
    assert "\x1b" not in text and raw_hidden(text) == []
    for name in [m.test_id for m in measured] + [m.name for m in measured] + [h("source"), h("fallback"), h("fn"),
                                                                          h("inside"), h("idle"), h("device")]:
        assert visible(name) in text, name
    assert phrases.failure_message(measured[2]).count("\n") == 1 + len(measured[2].overruns)  # names break no line


def test_the_json_keeps_exact_names_as_escapes(report: RunReport) -> None:
    text = render(report, "json")
    assert raw_hidden(text) == [] and text.isascii()
    data = json.loads(text)
    changed = {change["name"]: change for change in data["changed"]}
    assert set(changed) == {h("grew"), h("shrank")}
    assert changed[h("grew")]["test_id"] == h("tests/t.py::test_grew")
    assert {layer["name"] for layer in changed[h("grew")]["layers"]} == {BLOCK, h("gone"), h("added")}
    assert [(f["test_id"], f["overruns"][0]["source"]) for f in data["over_budget"]] == [
        (h("tests/t.py::test_grew"), h("source")), (h("tests/t.py::test_new"), h("source"))]
    assert [(a["test_id"], a["name"]) for a in data["added"]] == [(h("tests/t.py::test_new"), h("fresh"))]
    assert [(r["test_id"], r["name"]) for r in data["removed"]] == [(h("tests/t.py::test_gone"), h("old"))]
    assert data["mismatched"][0]["count"] == ["conv", h("kind")]
    assert [(r["test_id"], r["name"]) for r in data["regressions"]] == [(h("tests/t.py::test_grew"), h("grew"))]
    assert BLOCK in data["regressions"][0]["grown_layers"]  # names, exact; no sentence holds one


def test_the_page_shows_names_as_text_and_data_cannot_close_its_script(report: RunReport) -> None:
    html = render(report, "html")
    assert raw_hidden(html) == []
    page = Page.of(html)
    assert page.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "strong", "span", "code",
                         "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "details", "summary", "div",
                         "script", "noscript", "button"}
    assert html.count("<script") == 2  # the page's data and its script
    for tag, attribute, value in page.attributes:
        assert attribute in {"lang", "charset", "name", "content", "class", "id", "title", "href", "data-sort",
                             "data-anchor", "data-type", "data-figure", "data-total", "open", "type", "style"}
        assert not any(marker in value for marker in MARKERS), (tag, attribute, value)
        assert attribute != "href" or value.startswith("#")
    blob = json.loads(page.scripts[0])  # parses whole: no name closed it; the page's script draws from it
    text = "".join(page.outside + page.code) + "\n".join(_strings(blob))
    for name in (h("tests/t.py::test_new"), h("fresh"), h("source"), h("fallback"), h("Model"), h("old")):
        assert visible(name) in text, name
    data = blob["detail"]  # each model's section data, once
    labels = set(_labels(item["tree"] for item in data))
    # test_grew's blocks are top-level ones; NOTED's one block holds all its cost, so its chart starts deeper
    assert visible(block(BLOCK)) in labels and any(label.startswith(visible(block(STEM))) for label in labels)
    rows = [row if isinstance(row, list) else row["cells"] for item in data for row in item["layers"]]
    assert all(visible(row[0]) == row[0] for row in rows)


def _strings(data: Any) -> Iterator[str]:
    """Every string in parsed JSON, at any depth."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


def _labels(nodes: Iterable[dict[str, Any]]) -> Iterator[str]:
    for node in nodes:
        yield node["label"]
        yield from _labels(node["children"])


def test_names_read_back_from_run_files_render_inert(tmp_path: Path) -> None:
    """The comment job's path: run files written, read back through their checks, then rendered."""
    loaded = []
    for label, run in zip(("base", "head"), runs(kind="linear")):
        path = tmp_path / f"{label}.json"
        path.write_text(run.to_json(), encoding="utf-8")
        loaded.append(load_run_file(path))
    report = build_report(loaded[1], loaded[0], GatePolicy(override=5.0))
    assert report.entries[0].measurement.test_id == h("tests/t.py::test_grew")  # names arrive whole
    for fmt in ("text", "markdown", "json", "html"):
        assert raw_hidden(render(report, fmt)) == [], fmt
    page = Page.of(MarkdownIt("commonmark").enable("table").render(render(report, "markdown")))
    assert page.attributes == [] and not {"a", "img", "script"} & page.tags
