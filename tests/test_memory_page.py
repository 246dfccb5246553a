"""The page's picture of memory: live bytes along the forward, the peak named; output bytes per layer.

``net(grown=False)`` of ``html_cases`` on 1x3x16x16, on meta: every conv keeps 16x16, so
``stem`` (8 channels) outputs 8*256 float32 = 8,192 bytes, ``body.a`` 8,192, ``body.b``
(4 channels) 4,096 and ``head`` (2 channels) 2,048. The outer ``nn.Sequential`` holds
``stem``'s output while ``body`` runs, and ``body`` holds ``body.a``'s while ``body.b``
creates its own: the peak is 8,192 + 8,192 + 4,096 = 20,480 bytes, at ``body.b``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from browser import browser_fixture, console_messages, open_page, wait_for
from html_cases import NET_TEST, measurement, net_cost, report_of
from pytest_convbudget.engine.results import ConvCost
from pytest_convbudget.render.html.page import render_html
from pytest_convbudget.render.html.view import LAYER_COLUMNS, build_view

PEAK = 20_480
OUTPUT_BYTES = {"stem": 8_192, "body.a": 8_192, "body.b": 4_096, "head": 2_048}


def net_page_view() -> dict[str, Any]:
    return build_view(report_of([measurement(NET_TEST, "Sequential", net_cost(False))]))["measurements"][0]


def test_the_profile_finds_the_peak_counted_by_hand() -> None:
    cost = net_cost(False)
    assert (cost.activation_bytes, cost.peak_module) == (PEAK, "body.b")
    assert {layer.name: layer.output_bytes for layer in cost.layers} == OUTPUT_BYTES


def test_the_section_carries_the_trace_and_the_peaks_label() -> None:
    view = net_page_view()
    memory = view["memory"]
    assert (memory["peak"], memory["peak_exact"], memory["module"]) == ("20 KiB", "20,480", "body.b")
    trace = view["detail"]["memory"]
    assert trace == {"live": list(net_cost(False).live_bytes), "label": "peak 20 KiB in body.b"}
    assert max(trace["live"]) == PEAK


def test_the_layer_table_has_each_calls_output_bytes() -> None:
    view = net_page_view()
    column = LAYER_COLUMNS.index("output bytes")
    rows = {row[0]: row[column] for row in view["detail"]["layers"]}
    assert rows == {name: str(size) for name, size in OUTPUT_BYTES.items()}


def test_a_run_file_from_before_memory_figures_draws_no_chart() -> None:
    old = ConvCost.from_dict({key: value for key, value in net_cost(False).to_dict().items()
                              if key not in ("weight_bytes", "activation_bytes", "peak_module", "live_bytes")})
    view = build_view(report_of([measurement(NET_TEST, "Sequential", old)]))["measurements"][0]
    assert view["memory"] is None and view["detail"]["memory"] is None and view["size_figures"] == [
        figure for figure in view["size_figures"] if figure["figure"] == "model_params"]
    assert '<svg class="cb-memory-chart"' not in render_html(report_of([measurement(NET_TEST, "Sequential", old)]))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from browser_fixture()


def test_a_person_sees_the_chart_and_the_column_in_a_browser(browser: Any, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(report_of([measurement(NET_TEST, "Sequential", net_cost(False))])), encoding="utf-8")
    open_page(browser, page)
    browser.execute_script("document.querySelectorAll('details.cb-m').forEach(d => { d.open = true; });")
    chart = wait_for(browser, "svg.cb-memory-chart")
    assert chart.size["width"] > 300 and chart.size["height"] > 40
    drawn = browser.execute_script("""
        const svg = arguments[0];
        const heights = svg.querySelector("polyline").getAttribute("points").trim().split(" ").map(p => Number(p.split(",")[1]));
        return {points: heights.length, top: Math.min(...heights), peak: Number(svg.querySelector("circle").getAttribute("cy"))};
    """, chart)
    assert drawn["points"] == len(net_cost(False).live_bytes)
    assert drawn["peak"] == drawn["top"]  # the mark sits on the line's highest point (SVG's y grows down)
    caption = browser.find_element("css selector", "figure.cb-memory figcaption").text
    assert caption == "Live bytes along the forward (the whole batch): peak 20 KiB (20,480 bytes) while body.b ran"
    label = browser.find_element("css selector", "text.cb-memory-label")
    assert label.text == "peak 20 KiB in body.b" and label.is_displayed()
    browser.set_window_size(1500, 1000)  # the output bytes column needs a wide window
    table = wait_for(browser, "table.cb-layers")
    headers = [cell.text for cell in table.find_elements("css selector", "thead th")]
    column = headers.index("output bytes")
    cells = {row.find_elements("css selector", "td")[0].text: row.find_elements("css selector", "td")[column].text
             for row in table.find_elements("css selector", "tbody tr")}
    assert cells["stem"] == "8,192" and cells["head"] == "2,048"
    assert not [entry for entry in console_messages(browser) if entry.get("level") == "SEVERE"]
