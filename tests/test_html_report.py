"""The HTML report as data and as text: what the page holds, before any browser draws it.

The runs are real profiles of the tiny models in ``html_cases`` (costs counted
by hand there). What a person sees once the page is drawn is checked in
``test_html_browser.py``.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest

from html_cases import FLOPS_LIMIT, GROWN_FLOPS, GROWN_MACS, GROWN_PARAMS, MIXED_TEST, NET_TEST, many, report_of, runs
from pytest_convbudget.render.html.page import render_html
from pytest_convbudget.render.html.view import DRAWN_ROWS, OWN, build_view
from pytest_convbudget.ci.verdict import RunReport


@pytest.fixture(scope="module")
def run() -> RunReport:
    return runs()


@pytest.fixture(scope="module")
def view(run: RunReport) -> dict[str, Any]:
    return build_view(run)


@pytest.fixture(scope="module")
def page(run: RunReport) -> str:
    return render_html(run)


def page_data(page: str) -> dict[str, Any]:
    """The page's one JSON blob, and its rows as the page's script reads them (fields by name)."""
    text = re.search(r'<script type="application/json" id="cb-data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(text)
    data["rows"] = [dict(zip(data["row_fields"], row)) for row in data["rows"]]
    return data


def _node(tree: dict[str, Any], path: str) -> dict[str, Any]:
    if tree["path"] == path:
        return tree
    return next(_node(child, path) for child in tree["children"] if path == child["path"] or path.startswith(child["path"] + "."))


def _check_sums(node: dict[str, Any]) -> None:
    if node["children"]:
        for figure in ("params", "flops", "macs"):
            assert int(node["values"][figure]) == sum(int(child["values"][figure]) for child in node["children"])
        for child in node["children"]:
            _check_sums(child)


def test_over_budget_and_regressed_rows_come_first(view: dict[str, Any]) -> None:
    rows = view["measurements"]
    assert [(row["test_id"], row["status"], row["regressed"], row["baseline"]) for row in rows] == [
        (NET_TEST, "OVER", True, "changed"),  # run order had it second
        (MIXED_TEST, "ok", False, "new"),
    ]
    assert view["headline"] == "1 of 2 measurements changed, 1 new, 0 removed; 1 over budget, 1 grew past the allowed increase"
    assert (view["status"], view["baseline_label"], view["removed"]) == ("failed", "baseline.json", [])
    assert [row["open"] for row in rows] == [True, False]  # the first flagged section starts unfolded


def test_figures_are_exact_with_their_limit_and_change(view: dict[str, Any]) -> None:
    figures = {figure["figure"]: figure for figure in view["measurements"][0]["figures"]}
    assert figures["flops"]["value"] == str(GROWN_FLOPS) and figures["flops"]["exact"] == "737,280"
    assert figures["flops"]["limit"] == {
        "value": str(FLOPS_LIMIT), "exact": "400,000", "short": "400 k", "source": "@pytest.mark.budget",
        "used": 184.3, "over": True,
    }
    assert figures["params"]["before"] == {
        "value": "854", "short": "854", "exact": "854", "delta": str(GROWN_PARAMS - 854), "percent": "+72.1%",
    }
    assert figures["macs"]["value"] == str(GROWN_MACS) and figures["macs"]["limit"] is None
    assert view["measurements"][0]["headroom"] == -84.3  # (400,000 - 737,280) / 400,000


def test_the_tree_follows_the_modules_and_adds_up_at_every_level(view: dict[str, Any]) -> None:
    tree = view["measurements"][0]["detail"]["tree"]
    assert tree["values"] == {"params": str(GROWN_PARAMS), "flops": str(GROWN_FLOPS), "macs": str(GROWN_MACS)}
    assert [child["path"] for child in tree["children"]] == ["stem", "body", "neck"]
    assert [child["path"] for child in _node(tree, "body")["children"]] == ["body.a", "body.b"]
    _check_sums(tree)
    assert _node(tree, "body.a")["values"]["flops"] == "589824"
    assert (_node(tree, "body.a")["change"], _node(tree, "neck")["change"], _node(tree, "stem")["change"]) == (
        "grown", "added", "")


def test_a_module_with_its_own_cost_and_counted_children_gets_an_own_part() -> None:
    from torch import nn

    from html_cases import image, measurement
    from pytest_convbudget import profile

    class Outer(nn.Conv2d):  # a conv that also runs a counted child
        def __init__(self) -> None:
            super().__init__(3, 4, 1)
            self.inner = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return self.inner(super().forward(x))

    cost = profile(nn.Sequential(Outer()), image(), device="meta")
    # depth 1: the tree's first level is the top-level block, though it holds all the cost
    report = replace(report_of([measurement("t.py::t", "m", cost)]), depth=1)
    tree = build_view(report)["measurements"][0]["detail"]["tree"]
    outer = _node(tree, "0")
    assert [(child["label"], child["path"]) for child in outer["children"]] == [(OWN, "0"), ("inner", "0.inner")]
    _check_sums(tree)
    assert tree["values"]["flops"] == str(cost.flops)


def test_with_a_baseline_blocks_and_moved_layers_are_listed(view: dict[str, Any]) -> None:
    detail = view["measurements"][0]["detail"]
    assert [(b["name"], b["before"], b["after"], b["state"], b["change"]) for b in detail["blocks"]] == [
        ("stem", "110592", "110592", "", "0%"), ("body", "311296", "622592", "", "+100.0%"),
        ("neck", "0", "4096", "new", "new"), ("head", "4096", "0", "gone", "-100.0%"),
    ]
    assert [(m["name"], m["status"]) for m in detail["moved"]] == [
        ("body.a", "grown"), ("body.b", "grown"), ("neck", "added"), ("head", "removed")]
    assert [(row[0], row[-1]) for row in detail["layers"]] == [
        ("stem", ""), ("body.a", "grown"), ("body.b", "grown"), ("neck", "added"), ("head", "removed")]


def test_more_than_one_kind_is_named_for_the_legend(view: dict[str, Any], page: str) -> None:
    assert view["kinds"] == ["conv", "linear"]
    counted = [len(row["detail"]["kinds"]) for row in view["measurements"]]
    # the header says in how many measurements: a CNN counted with convs only must not read as counting linears
    assert f"Kinds counted: conv in all {len(counted)}; linear in {counted.count(2)} of {len(counted)}." in page
    mixed = view["measurements"][1]["detail"]
    assert mixed["kinds"] == ["conv", "linear"]
    assert [(child["path"], child["kind"]) for child in mixed["tree"]["children"]] == [("conv", "conv"), ("fc", "linear")]


def test_a_module_with_calls_of_several_kinds_gets_one_part_per_kind() -> None:
    """self_attn ran linear and attention ops: two parts, one colour each, adding up to the module."""
    from html_cases import attention_cost, measurement
    from pytest_convbudget.engine.kinds import KINDS

    row = build_view(report_of([measurement("t.py::t", "encoder", attention_cost())]))["measurements"][0]
    tree = row["detail"]["tree"]
    _check_sums(tree)
    assert tree["values"]["flops"] == "2550"
    attention = _node(tree, "self_attn")
    assert (attention["kind"], attention["values"]["flops"]) == ("", "1782")
    assert [(part["label"], part["kind"], part["values"]["flops"], part["children"]) for part in attention["children"]] == [
        ("linear", "linear", "1536", []), ("attention", "attention", "246", [])]
    assert [(child["path"], child["kind"]) for child in tree["children"][1:]] == [("linear1", "linear"), ("linear2", "linear")]
    assert row["detail"]["kinds"] == list(KINDS)  # count="all": the legend's kinds


def test_the_kinds_counted_are_the_measurements_count_not_the_kinds_that_ran() -> None:
    from html_cases import image, measurement, net, net_cost
    from pytest_convbudget import profile

    cost = profile(net(False), image(), device="meta", count=["conv", "linear"])  # no linear ran
    view = build_view(report_of([measurement("t.py::t", "net", cost), measurement("t.py::u", "net", net_cost(False))]))
    assert view["kinds"] == ["conv", "linear"]
    assert [row["detail"]["kinds"] for row in view["measurements"]] == [["conv", "linear"], ["conv"]]


def test_kind_colours_come_from_the_registry(page: str) -> None:
    from pytest_convbudget.engine.kinds import KINDS

    assert page_data(page)["colours"] == {name: kind.colour for name, kind in KINDS.items()}
    script = page[page.rindex("<script>"):]
    assert not any(kind.colour in script for kind in KINDS.values())  # none hard-coded in the page's script


def test_a_measurement_the_baseline_counted_otherwise_is_listed_not_compared() -> None:
    from html_cases import measurement, mixed_cost, net_cost, run_file
    from pytest_convbudget.render.phrases import mismatch_text
    from pytest_convbudget.ci.verdict import GatePolicy, build_report

    base = [measurement(NET_TEST, "Sequential", net_cost(False))]
    head = [measurement(NET_TEST, "Sequential", mixed_cost())]
    report = build_report(run_file(head), run_file(base), GatePolicy())
    (row,) = build_view(report)["measurements"]
    assert (row["baseline"], row["mismatch"], row["open"]) == ("not compared", mismatch_text(report.mismatched[0]), True)
    page = render_html(report)
    assert html.escape(mismatch_text(report.mismatched[0]), quote=False) in page
    (shown,) = page_data(page)["rows"]
    assert (shown["baseline"], shown["mismatch"]) == ("not compared", mismatch_text(report.mismatched[0]))


def test_idle_modules_and_uncounted_ops_are_listed_as_the_text_report_lists_them() -> None:
    import torch
    from torch import nn
    from torch.nn import functional

    from html_cases import image, measurement
    from pytest_convbudget import profile

    class Leaky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Conv2d(3, 4, 1)
            self.aux = nn.Conv2d(4, 4, 3)  # never called: idle
            self.register_buffer("kernel", torch.ones(2, 4, 1, 1))

        def forward(self, x):
            return functional.conv2d(self.used(x), self.kernel)  # outside every counted module

    cost = profile(Leaky(), image(), device="meta")
    page = render_html(report_of([measurement("t.py::t", "leaky", cost)]))
    assert "never ran, not in the totals: aux (Conv2d, 148 params)" in page
    from pytest_convbudget.render.phrases import notes as render_notes

    (uncounted,) = [line for line in render_notes(cost) if line.startswith("not in the totals (count = conv): ")]
    assert uncounted.startswith("not in the totals (count = conv): 1 functional_conv op(s) (conv2d; ")
    assert html.escape(uncounted, quote=False) in page  # the terminal report's words


def test_the_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*(?!["']#)""", page), "no src, no href but in-page anchors"
    assert not re.search(r"@import|url\(|https?://(?!www\.w3\.org/2000/svg)", page)
    assert page.count("<script") == 2  # the page's data and its script; none with src
    assert "<link" not in page


def test_names_are_escaped_and_data_cannot_close_its_script() -> None:
    from html_cases import measurement, net_cost

    hostile = '</script><script>alert("x")</script>'
    page = render_html(report_of([measurement(f"t.py::t[{hostile}]", hostile, net_cost(False))]))
    assert hostile not in page
    assert page.count("<script") == 2  # the page's data and its script, nothing injected
    data = page_data(page)
    assert data["detail"][0]["tree"]["values"]["flops"] == "425984"
    assert (data["rows"][0]["test_id"], data["rows"][0]["name"]) == (f"t.py::t[{hostile}]", hostile)


def test_the_page_is_the_same_for_the_same_run(page: str) -> None:
    assert render_html(runs()) == page  # no timestamps


def test_enforcement_words_the_status() -> None:
    page = render_html(runs("warn"))
    assert {row["test_id"]: (row["status"], row["status_class"]) for row in page_data(page)["rows"]}[NET_TEST] == (
        "over (warn)", "over")
    page = render_html(runs("off"))  # not judged: its own colour, and not counted over budget
    assert {row["test_id"]: (row["status"], row["status_class"]) for row in page_data(page)["rows"]}[NET_TEST] == (
        "over (off)", "unchecked")
    assert "0 over budget" not in page and "1 over budget" not in page


def test_an_empty_run_says_so() -> None:
    assert "No conv_cost measurements in this run." in render_html(report_of([]))


def test_five_hundred_measurements_are_folded_and_drawn_on_demand() -> None:
    page = render_html(report_of(many(500)))
    data = page_data(page)
    assert len(data["rows"]) == 500 and data["drawn"] == DRAWN_ROWS  # none flagged: the first 200 drawn on load
    assert [row["open"] for row in data["rows"]].count(True) == 1  # only the first section starts unfolded
    assert len(data["detail"]) == len(data["notes"]) == 1  # one model: its chart's data is in the page once
    assert len(data["figure"]) == 6  # ...and its figures, sizes and memory included
    assert {row["detail"] for row in data["rows"]} == {0}
    assert "<svg" not in page and "<details class" not in page  # every section and chart is drawn by the script
    assert "Show the other 300 measurements (within budget)</button>" in page  # no baseline: not "unchanged"
    assert "Show the other 300 measurements</button>" in render_html(report_of(many(500), "off"))  # not checked
    assert len(page.encode()) < 300_000  # 500 rows of a few hundred bytes each


def test_loading_the_report_module_imports_neither_torch_nor_jinja2() -> None:
    """Nor does the renderer registry that holds it, nor the gate: Jinja2 loads when a page is drawn."""
    code = (
        "import sys, pytest_convbudget.render.html.page, pytest_convbudget.render.block_bars, pytest_convbudget.render.outputs, "
        "pytest_convbudget.gate; "
        "print(sorted(name for name in ('torch', 'jinja2') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_gate_and_the_registry_load_no_html_code_until_a_page_is_asked_for() -> None:
    """A run with --conv-json alone never pays for the page's modules."""
    code = (
        "import sys, pytest_convbudget.render.outputs, pytest_convbudget.gate, pytest_convbudget.cli.diff; "
        "print(sorted(name for name in sys.modules if name.startswith('pytest_convbudget.html')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_page_for_the_examples_stays_well_under_two_megabytes() -> None:
    import torch

    from html_cases import measurement
    from models import mobilenet_v2, resnet18, resnet50, resnet_style, unet3d
    from pytest_convbudget import profile

    cases = [(resnet18(), (1, 3, 224, 224)), (resnet50(), (1, 3, 224, 224)), (mobilenet_v2(), (1, 3, 160, 160)),
             (mobilenet_v2(), (1, 3, 224, 224)), (unet3d(), (1, 1, 64, 64, 64)), (resnet50(), (1, 3, 224, 224)),
             (resnet_style(), (32, 3, 224, 224))]
    page = render_html(report_of([
        measurement(f"test_examples.py::test_{index}", type(model).__name__, profile(model, torch.randn(*shape), device="meta"))
        for index, (model, shape) in enumerate(cases)
    ]))
    assert len(page.encode()) < 500_000  # 168 KB when measured; "well under 2 MB"


def test_a_model_that_shrank_has_its_layers_marked_shrunk() -> None:
    from html_cases import measurement, net_cost, run_file
    from pytest_convbudget.ci.verdict import GatePolicy, build_report

    base = [measurement(NET_TEST, "Sequential", net_cost(True))]
    head = [measurement(NET_TEST, "Sequential", net_cost(False))]
    row = build_view(build_report(run_file(head), run_file(base), GatePolicy()))["measurements"][0]
    tree = row["detail"]["tree"]
    assert [(_node(tree, path)["change"]) for path in ("body.a", "body.b", "head", "stem")] == [
        "shrunk", "shrunk", "added", ""]
    assert [(m["name"], m["status"], m["change"]) for m in row["detail"]["moved"]] == [
        ("body.a", "shrunk", "-50.0%"), ("body.b", "shrunk", "-50.0%"), ("head", "added", "new"),
        ("neck", "removed", "-100.0%")]
    assert (row["regressed"], row["baseline"]) == (False, "changed")


def test_without_jinja2_the_report_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_convbudget.render.html.page import HtmlReportError

    monkeypatch.setitem(sys.modules, "jinja2", None)  # makes `import jinja2` fail
    with pytest.raises(HtmlReportError, match=r"^the HTML report needs Jinja2: pip install 'pytest-convbudget\[html\]'$"):
        render_html(report_of([]))


def test_kinds_counted_by_every_measurement_are_listed_plainly() -> None:
    from html_cases import attention_cost, measurement

    page = render_html(report_of([measurement("t.py::t", "encoder", attention_cost())]))
    assert "Kinds counted: conv, linear, matmul, attention, functional_conv." in page


ALL_KINDS = "conv, linear, matmul, attention and functional_conv budget"


def _title_and_heading(page: str) -> tuple[str, str]:
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    heading = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)
    return title, heading


def test_the_title_names_the_kinds_counted(view: dict[str, Any], page: str) -> None:
    """One measurement counted conv and linear: the page says so in its title and heading."""
    assert view["title"] == "conv and linear budget"
    assert _title_and_heading(page) == ("conv and linear budget", "conv and linear budget")


def test_a_run_of_the_default_count_keeps_its_title() -> None:
    from pytest_convbudget.render.phrases import SECTION

    for report in (report_of(many(2)), report_of([])):  # conv modules only, and nothing counted
        assert _title_and_heading(render_html(report)) == (SECTION, SECTION) == ("conv budget", "conv budget")


def test_every_kind_is_named_in_registry_order() -> None:
    from html_cases import attention_cost, measurement, net_cost
    from pytest_convbudget.engine.kinds import KINDS
    from pytest_convbudget.render.html.view import page_title

    # measured in another order than the registry's: the title follows the registry, as the kinds line does
    report = report_of([measurement("t.py::t", "encoder", attention_cost()),
                        measurement("t.py::u", "net", net_cost(False))])
    assert _title_and_heading(render_html(report)) == (ALL_KINDS, ALL_KINDS)
    assert page_title(list(KINDS)) == ALL_KINDS
    assert page_title(["linear"]) == "linear budget"
    assert page_title(["conv", "linear", "matmul", "attention"]) == "conv, linear, matmul and attention budget"


def test_a_title_given_by_the_caller_is_kept_and_escaped(run: RunReport) -> None:
    page = render_html(run, title="<b>my</b> models")
    assert _title_and_heading(page) == ("&lt;b&gt;my&lt;/b&gt; models",) * 2
    assert build_view(run, "mine")["title"] == "mine"


def test_the_summary_columns_are_named_for_folding_and_a_changed_figure_carries_its_pair(page: str) -> None:
    """The summary's figure columns are named for the narrow layouts (which fold MACs away), and a changed
    figure carries what the page draws as "before → after (change)"; test_html_browser sees it drawn."""
    assert '<th class="num" data-type="num" data-figure="macs">MACs</th>' in page
    data = page_data(page)
    first = data["rows"][0]
    assert first["test_id"] == NET_TEST
    assert data["figure"][first["figures"][1]] == ["flops", "737280", "737 k", ["400000", "400 k", "@pytest.mark.budget", 184.3, True],
                                   ["425984", "426 k", "311296", "+73.1%"]]


def test_the_page_script_never_writes_markup() -> None:
    """Names reach the page only as text: the script builds elements and sets textContent."""
    from importlib import resources

    script = resources.files("pytest_convbudget.render.html").joinpath("page.js").read_text(encoding="utf-8")
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser", "createContextualFragment")
    for sink in sinks:
        assert sink not in script, sink
