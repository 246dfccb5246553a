"""The HTML report in a real browser: what a person sees once headless Chromium draws it.

One browser session serves the whole module (``browser.py`` skips where no
Chromium exists). The page is the run of ``html_cases``: the net grew past
its FLOPs budget and the growth gate, and a conv+linear model is new.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterator

import pytest

from browser import browser_fixture, console_messages, open_page, requested_urls, wait_for
from html_cases import GROWN_FLOPS, GROWN_PARAMS, many, report_of, runs
from pytest_convbudget.render.html.page import render_html
from pytest_convbudget.engine.kinds import KINDS

RED = "rgba(198, 40, 40, 1)"  # --over in the page's style


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from browser_fixture()


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(runs()), encoding="utf-8")
    return path


@pytest.fixture
def page(browser: Any, page_file: Path) -> Any:
    open_page(browser, page_file)
    return browser


CHART_PARTS = """
const section = document.getElementById(arguments[0]);
return Array.from(section.querySelectorAll("svg.cb-icicle rect")).map(rect => ({
  depth: Number(rect.dataset.depth), value: rect.dataset.value, leaf: rect.dataset.leaf === "1",
  path: rect.dataset.path, width: Number(rect.getAttribute("width")), fill: rect.getAttribute("fill"),
  cls: rect.getAttribute("class") || ""}));
"""


def rgba(colour: str) -> str:
    """``#4e79a7`` as the browser reports a computed colour."""
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, 1)"


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _shown_total(section: Any, figure: str) -> int:
    return _number(section.find_element("css selector", f'td[data-total="{figure}"]').text)


def _check_chart(driver: Any, anchor: str, figure: str) -> list[dict[str, Any]]:
    """The chart's parts add up, row by row and leaf by leaf, to the total the page shows."""
    section = wait_for(driver, f'#{anchor} [data-chart-total="{figure}"]').find_element("xpath", "ancestor::details")
    parts = driver.execute_script(CHART_PARTS, anchor)
    total = _shown_total(section, figure)
    assert _number(section.find_element("css selector", f'[data-chart-total="{figure}"]').text) == total
    assert [int(part["value"]) for part in parts if part["depth"] == 0] == [total]
    assert sum(int(part["value"]) for part in parts if part["depth"] == 1) == total
    assert sum(int(part["value"]) for part in parts if part["leaf"]) == total
    root_width = next(part["width"] for part in parts if part["depth"] == 0)
    assert sum(part["width"] for part in parts if part["leaf"]) == pytest.approx(root_width, abs=0.1)
    return parts


def test_it_renders_offline_with_no_console_errors_and_no_requests(page: Any, page_file: Path) -> None:
    assert page.title == "conv budget"
    assert console_messages(page) == []
    assert requested_urls(page) == [page_file.resolve().as_uri()]


def test_the_chart_adds_up_to_the_totals_shown(page: Any) -> None:
    parts = _check_chart(page, "m0", "flops")
    assert _shown_total(page.find_element("id", "m0"), "flops") == GROWN_FLOPS
    assert [part["path"] for part in parts if part["depth"] == 1] == ["stem", "body", "neck"]
    page.find_element("css selector", '#m0 .cb-switch button[data-figure="params"]').click()
    _check_chart(page, "m0", "params")
    assert _shown_total(page.find_element("id", "m0"), "params") == GROWN_PARAMS


def test_hovering_a_part_gives_its_exact_figures(page: Any) -> None:
    title = page.execute_script(
        'return document.querySelector(\'#m0 rect[data-path="body.a"] title\').textContent;')
    assert title.splitlines() == [
        "body.a (conv)", "FLOPs: 589,824 (80.0%)", "params: 1,168", "MACs: 294,912", "against the baseline: grown"]


def test_the_over_budget_measurement_is_marked(page: Any) -> None:
    first = page.find_element("css selector", "#cb-summary tbody tr")
    assert "tests/test_models.py::test_net" in first.text
    assert [badge.text for badge in first.find_elements("css selector", ".badge")] == ["OVER", "regressed", "changed"]
    assert first.find_element("css selector", ".badge.over").value_of_css_property("background-color") == RED
    section = page.find_element("id", "m0")
    assert section.get_attribute("open") == "true"
    assert section.value_of_css_property("border-top-color") == RED
    used = section.find_elements("css selector", ".cb-figures td.up")
    assert [cell.text for cell in used] == ["184.3%"]


def test_grown_added_and_removed_layers_are_marked_in_chart_and_tables(page: Any) -> None:
    parts = {part["path"]: part["cls"] for part in page.execute_script(CHART_PARTS, "m0")}
    assert (parts["body.a"], parts["body.b"], parts["neck"], parts["stem"]) == (
        "change-grown", "change-grown", "change-added", "")
    gone = page.find_element("css selector", "#m0 table.cb-layers tr.change-removed")
    assert gone.text.split()[0] == "head"
    assert "line-through" in gone.find_element("tag name", "td").value_of_css_property("text-decoration")
    blocks = [" ".join(row.text.split()) for row in page.find_elements("css selector", "#m0 table.cb-pairs tr")][1:]
    assert blocks == ["stem 110,592 110,592 0%", "body 311,296 622,592 +100.0%", "neck (new) 0 4,096 new",
                      "head (gone) 4,096 0 -100.0%"]


def test_a_folded_section_is_drawn_when_opened_with_colours_per_kind(page: Any) -> None:
    section = page.find_element("id", "m1")
    assert section.get_attribute("open") is None
    assert section.find_elements("css selector", "svg") == []
    section.find_element("tag name", "summary").click()
    parts = _check_chart(page, "m1", "flops")
    fills = {part["path"]: part["fill"] for part in parts if part["leaf"]}
    assert fills["conv"] != fills["fc"]
    legend = page.find_elements("css selector", "#m1 .cb-legend i")
    assert [swatch.get_attribute("data-kind") for swatch in legend] == ["conv", "linear"]  # the measurement's count
    assert [swatch.value_of_css_property("background-color") for swatch in legend] == [
        rgba(KINDS["conv"].colour), rgba(KINDS["linear"].colour)]  # the registry's colours: the chart's fills
    assert (fills["conv"], fills["fc"]) == (KINDS["conv"].colour, KINDS["linear"].colour)


def test_the_summary_sorts_by_a_column(page: Any) -> None:
    flops_header = page.find_elements("css selector", "#cb-summary thead th")[4]
    assert flops_header.text.startswith("FLOPs")
    flops_header.click()
    cells = page.find_elements("css selector", '#cb-summary tbody td[data-figure="flops"]')
    assert [int(cell.get_attribute("data-sort")) for cell in cells] == [6_160, GROWN_FLOPS]
    flops_header.click()
    cells = page.find_elements("css selector", '#cb-summary tbody td[data-figure="flops"]')
    assert [int(cell.get_attribute("data-sort")) for cell in cells] == [GROWN_FLOPS, 6_160]


def test_a_screenshot_is_not_blank(page: Any, tmp_path: Path) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(page.get_screenshot_as_png())).convert("RGB")
    counts = {colour: count for count, colour in image.getcolors(image.width * image.height)}
    area = image.width * image.height
    assert area - counts.get((255, 255, 255), 0) > area // 20, "at least 5% of the window is drawn"
    assert len(counts) > 50, "text, bars and chart, not one flat colour"
    assert (198, 40, 40) in counts, "the over-budget marks are red on screen"


def test_five_hundred_measurements_load_folded(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "many.html"
    path.write_text(render_html(report_of(many(500))), encoding="utf-8")
    open_page(browser, path)
    assert console_messages(browser) == []
    assert len(browser.find_elements("css selector", "#cb-summary tbody tr")) == 500
    assert len(browser.find_elements("css selector", "svg.cb-icicle")) == 1  # only the unfolded first section
    browser.execute_script('location.hash = "#m499";')
    _check_chart(browser, "m499", "flops")  # opened by its link, drawn on demand


def test_odd_runs_draw_without_errors_and_huge_counts_stay_exact(browser: Any, tmp_path: Path) -> None:
    """No conv at all, a bare conv as the model, and counts past 2**53 (where a float would round)."""
    from torch import nn

    from html_cases import image, measurement, net_cost
    from pytest_convbudget import ConvCost, profile

    huge = 2**70 + 1
    data = net_cost(True).to_dict()
    data["layers"] = [{**data["layers"][0], "flops": huge}]
    data["flops"] = huge
    odd = [
        measurement("t.py::test_none", "none", profile(nn.ReLU(), image(), device="meta")),
        measurement("t.py::test_bare", "bare", profile(nn.Conv2d(3, 4, 1), image(), device="meta")),
        measurement("t.py::test_huge", "huge", ConvCost.from_dict(data)),
    ]
    path = tmp_path / "odd.html"
    path.write_text(render_html(report_of(odd)), encoding="utf-8")
    open_page(browser, path)
    browser.execute_script('document.querySelectorAll("details.cb-m").forEach(d => { d.open = true; });')
    for anchor in ("m0", "m1", "m2"):
        _check_chart(browser, anchor, "flops")
    assert console_messages(browser) == []
    assert browser.find_element("css selector", '#m2 [data-chart-total="flops"]').text == f"{huge:,}"
    cells = browser.find_elements("css selector", '#m2 table.cb-layers td[data-figure="flops"]')
    assert [cell.text for cell in cells] == [f"{huge:,}"]  # 1,180,591,620,717,411,303,425: not ...424
    assert [part["path"] for part in browser.execute_script(CHART_PARTS, "m1")] == ["", "(root)"]


def test_a_module_with_several_kinds_is_split_into_parts_coloured_by_kind(browser: Any, tmp_path: Path) -> None:
    """self_attn ran linear and attention ops: its two parts take their kinds' colours and still add up."""
    from html_cases import attention_cost, measurement

    path = tmp_path / "attention.html"
    path.write_text(render_html(report_of([measurement("t.py::test_encoder", "encoder", attention_cost())])),
                    encoding="utf-8")
    open_page(browser, path)
    parts = _check_chart(browser, "m0", "flops")
    assert console_messages(browser) == []
    split = [(part["value"], part["fill"]) for part in parts if part["path"] == "self_attn" and part["leaf"]]
    assert split == [("1536", KINDS["linear"].colour), ("246", KINDS["attention"].colour)]
    legend = browser.find_elements("css selector", "#m0 .cb-legend i")
    assert [swatch.get_attribute("data-kind") for swatch in legend] == list(KINDS)  # count="all"
    assert [swatch.value_of_css_property("background-color") for swatch in legend] == [
        rgba(kind.colour) for kind in KINDS.values()]
    titles = browser.execute_script(
        'return Array.from(document.querySelectorAll(\'#m0 rect[data-path="self_attn"] title\')).map(t => t.textContent);')
    assert [title.splitlines()[:2] for title in titles] == [
        ["self_attn", "FLOPs: 1,782 (69.9%)"], ["self_attn (linear)", "FLOPs: 1,536 (60.2%)"],
        ["self_attn (attention)", "FLOPs: 246 (9.6%)"]]
