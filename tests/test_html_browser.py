"""The HTML report in a real browser: what a person sees once headless Chromium draws it.

One browser session serves the whole module (``browser.py`` skips where no
Chromium exists). The page is the run of ``html_cases``: the net grew past
its FLOPs budget and the growth gate, and a conv+linear model is new. The
width checks also draw the examples' own pages, as ``pytest examples`` writes
them on main and on a branch, and a page of very long names.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from browser import browser_fixture, console_messages, open_page, requested_urls, wait_for, window_width
from html_cases import GROWN_FLOPS, GROWN_PARAMS, LONG_TEST, long_names, many, report_of, runs, thousands
from pytest_convbudget.render.html.page import render_html
from pytest_convbudget.render.html.view import DRAWN_ROWS
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
    assert page.title == "conv and linear budget"  # the kinds its measurements counted
    assert page.find_element("tag name", "h1").text == page.title
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


def test_a_changed_figure_shows_before_and_after_then_its_change(page: Any) -> None:
    """Before and after stay on one line, the change goes below when the column is narrow."""
    cell = page.find_element("css selector", '#cb-summary tbody tr td[data-figure="flops"]')
    assert cell.get_attribute("innerHTML") == (
        '<span class="cb-pair"><span class="nw">426 k →</span> <span class="nw">737 k</span></span> '
        '<span class="up">(+73.1%)</span>')
    assert cell.get_attribute("title") == "737,280 of 400 k (184.3%)"
    name = page.find_element("css selector", "#cb-summary tbody tr td.name")
    assert name.get_attribute("innerHTML") == '<span class="cb-cap">Sequential</span>'


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
    assert browser.title == "conv budget"  # conv modules only: the default count's title
    assert len(browser.find_elements("css selector", "#cb-summary tbody tr")) == DRAWN_ROWS  # none flagged
    assert len(browser.find_elements("css selector", "details.cb-m")) == DRAWN_ROWS
    assert len(browser.find_elements("css selector", "svg.cb-icicle")) == 1  # only the unfolded first section
    browser.execute_script('location.hash = "#m499";')  # a link to a row not drawn yet draws the rest
    _check_chart(browser, "m499", "flops")  # opened by its link, drawn on demand
    assert len(browser.find_elements("css selector", "#cb-summary tbody tr")) == 500
    assert browser.find_elements("id", "cb-show-all") == []
    assert console_messages(browser) == []


def test_five_thousand_measurements_show_what_changed_and_what_is_over_first(browser: Any, tmp_path: Path) -> None:
    """A big suite's pull request: the page is small, and on load its summary holds every flagged,
    changed and new measurement first, then unchanged ones up to DRAWN_ROWS; the rest come with one click."""
    report = thousands(5000)
    page = render_html(report)
    assert len(page.encode()) < 5_000_000
    path = tmp_path / "thousands.html"
    path.write_text(page, encoding="utf-8")
    open_page(browser, path)
    assert console_messages(browser) == []
    rows = browser.execute_script(SUMMARY_ROWS)
    over, regressed = len(report.over_budget), len(report.regressions)
    changed, new = report.counts.changed, report.counts.added
    assert (over, regressed, changed, new) == (50, 100, 100, 25)
    assert changed + new < len(rows) == DRAWN_ROWS  # the flagged are among the changed; unchanged ones fill up
    assert [row["badges"] for row in rows[:over]] == [["OVER", "regressed", "changed"]] * over
    assert [row["badges"] for row in rows[over:changed]] == [["ok", "regressed", "changed"]] * (changed - over)
    assert [row["badges"] for row in rows[changed:changed + new]] == [["ok", "new"]] * new
    assert {tuple(row["badges"]) for row in rows[changed + new:]} == {("ok", "unchanged")}
    assert [row["index"] for row in rows] == [str(index + 1) for index in range(len(rows))]
    assert len(browser.find_elements("css selector", "details.cb-m")) == len(rows)
    assert len(browser.find_elements("css selector", "details.cb-m[open]")) == 3
    assert len(browser.find_elements("css selector", "svg.cb-icicle")) == 3
    removed = browser.find_elements("css selector", "ul.cb-removed li")
    assert len(removed) == report.counts.removed == 25
    button = browser.find_element("id", "cb-show-all")
    assert button.text == f"Show the other {5000 - len(rows):,} measurements (within budget, unchanged)"
    button.click()
    assert len(browser.find_elements("css selector", "#cb-summary tbody tr")) == 5000
    assert len(browser.find_elements("css selector", "details.cb-m")) == 5000
    last = browser.find_element("css selector", "#cb-summary tbody tr:last-child a")
    assert last.get_attribute("href").endswith("#m4999")
    last.click()
    _check_chart(browser, "m4999", "flops")
    assert console_messages(browser) == []


SUMMARY_ROWS = """
return Array.from(document.querySelectorAll("#cb-summary tbody tr")).map(row => ({
  index: row.cells[0].textContent,
  badges: Array.from(row.querySelectorAll(".badge")).map(badge => badge.textContent)}));
"""


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


# -- the page at real widths -------------------------------------------------

WIDTHS = (900, 1280, 1400)  # a narrow window (minor columns fold away), a laptop's, and the default one
ALL_KINDS = "conv, linear, matmul, attention and functional_conv budget"

OPEN_ALL = 'document.querySelectorAll("details.cb-m").forEach(d => { d.open = true; });'
UNDRAWN = 'return document.querySelectorAll(".cb-draw:not([data-drawn])").length;'
# How wide the page and its tables are drawn: nothing may be wider than its box, and no box scrolls sideways.
WIDTHS_DRAWN = """
const label = node => node.id ? "#" + node.id : node.tagName.toLowerCase() + "." + node.className.replace(/ /g, ".");
const where = node => { const section = node.closest("details"); return (section ? "#" + section.id + " " : "") + label(node); };
const wide = [];
for (const table of document.querySelectorAll("table")) {
  const box = table.parentElement;
  if (table.scrollWidth > box.clientWidth) wide.push([where(table), table.scrollWidth, where(box), box.clientWidth]);
}
for (const node of document.body.querySelectorAll("*")) {
  const overflow = getComputedStyle(node).overflowX;
  if ((overflow === "auto" || overflow === "scroll") && node.scrollWidth > node.clientWidth)
    wide.push([where(node), node.scrollWidth, "scroller", node.clientWidth]);
}
return {page: document.documentElement.scrollWidth, window: window.innerWidth, wide: wide,
        tables: document.querySelectorAll("table").length};
"""


# Each text part of a cell (the page puts a line-break opportunity between them): its text, on how many
# lines it is drawn, and where its first line is.
PART_LINES = """
return Array.from(arguments[0].childNodes).filter(node => node.nodeType === Node.TEXT_NODE).map(node => {
  const range = document.createRange();
  range.selectNodeContents(node);
  const rects = Array.from(range.getClientRects());
  return {text: node.textContent, lines: new Set(rects.map(rect => Math.round(rect.top))).size,
          top: Math.round(rects[0].top)};
});
"""


def _edit(path: Path, edits: tuple[tuple[str, str], ...], tail: str = "") -> None:
    text = path.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text + tail, encoding="utf-8")


@pytest.fixture(scope="module")
def example_pages(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The examples' pages as ``pytest examples`` writes them: main's run, which saves the baseline, and a
    branch compared with it, made of the docs' edit (the student's grouped conv, groups=4 to 2) and the
    golden outputs' (UNet3D and the ViT grow, ResNet-18 goes, a new model comes)."""
    from examples_outputs import BRANCH_EDITS, EXAMPLES_DIR, NEW_TEST

    work = tmp_path_factory.mktemp("examples")
    main, branch = work / "main", work / "branch"
    shutil.copytree(EXAMPLES_DIR, main, ignore=shutil.ignore_patterns("__pycache__", "github"))
    shutil.copytree(main, branch)
    _edit(branch / "models.py", (("groups=4", "groups=2"),))
    _edit(branch / "test_examples.py", BRANCH_EDITS, NEW_TEST)
    pytest_run = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    subprocess.run([*pytest_run, "--conv-save-baseline=../baseline.json", "--conv-html=../main.html"],
                   cwd=main, capture_output=True, timeout=600, check=False)
    subprocess.run([*pytest_run, "--conv-baseline=../baseline.json", "--conv-max-increase=5",  # fails: over budget
                    "--conv-html=../branch.html"], cwd=branch, capture_output=True, timeout=600, check=False)
    pages = {"main": work / "main.html", "branch": work / "branch.html", "long": work / "long.html"}
    pages["long"].write_text(render_html(long_names()), encoding="utf-8")
    assert all(path.exists() for path in pages.values())
    return pages


def _open_every_section(driver: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script(OPEN_ALL)
    WebDriverWait(driver, 10).until(lambda page: page.execute_script(UNDRAWN) == 0)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["main", "branch", "long"])
def test_nothing_scrolls_sideways(browser: Any, example_pages: dict[str, Path], name: str, width: int) -> None:
    """The summary and every section's tables fit the window, all sections open: long test ids, names and
    module paths wrap, and nothing (the page, a table, a section's scroller) shows a horizontal scrollbar."""
    with window_width(browser, width):
        open_page(browser, example_pages[name])
        assert browser.execute_script("return window.innerWidth;") == width
        closed = browser.execute_script(WIDTHS_DRAWN)
        _open_every_section(browser)
        drawn = browser.execute_script(WIDTHS_DRAWN)
        assert console_messages(browser) == []
    assert drawn["tables"] > closed["tables"] > 1  # the layer tables were drawn
    for shown in (closed, drawn):
        assert shown["page"] <= shown["window"] == width
        assert shown["wide"] == []


def test_the_branch_page_shows_what_it_must_fit(browser: Any, example_pages: dict[str, Path]) -> None:
    """The branch page is the widest the examples make: changed figures, a new and a removed measurement."""
    assert "Removed since the baseline" in example_pages["branch"].read_text(encoding="utf-8")
    open_page(browser, example_pages["branch"])
    assert browser.find_elements("css selector", "#cb-summary .badge.new")
    assert len(browser.find_elements("css selector", "#cb-summary td.num.moved")) >= 9  # three changed, three figures


@pytest.mark.parametrize("name", ["main", "branch"])
def test_the_example_pages_are_titled_by_the_kinds_they_counted(browser: Any, example_pages: dict[str, Path],
                                                                name: str) -> None:
    open_page(browser, example_pages[name])
    assert browser.title == ALL_KINDS  # the ViT counted every kind; the header's kinds line says in how many
    assert browser.find_element("tag name", "h1").text == ALL_KINDS
    assert "Kinds counted: conv in all" in browser.find_element("id", "cb-verdict").text


def test_long_names_wrap_inside_their_cells(browser: Any, example_pages: dict[str, Path]) -> None:
    with window_width(browser, 1280):
        open_page(browser, example_pages["long"])
        _open_every_section(browser)
        cell = browser.find_element("css selector", "#cb-summary tbody td.wrap")
        assert cell.text.replace("\n", "") == LONG_TEST
        lines = browser.execute_script("return arguments[0].querySelector('code').getClientRects().length;", cell)
        assert lines > 3  # wrapped in its column, not one line past the window's edge
        layer = browser.find_element("css selector", "#m0 table.cb-layers td.path")
        parts = browser.execute_script(PART_LINES, layer)  # the module path: a line of its own per module or two
        assert [part["text"] for part in parts][:2] == ["encoder.", "a_rather_long_module_name_at_level_7."]
        assert all(part["lines"] == 1 for part in parts), "it breaks after dots, not inside a module's name"
        assert len({part["top"] for part in parts}) > 3


def test_minor_columns_fold_away_in_a_narrow_window(browser: Any, example_pages: dict[str, Path]) -> None:
    def shown(css: str) -> list[bool]:
        return [cell.is_displayed() for cell in browser.find_elements("css selector", css)]

    for width, folded in ((900, True), (1280, False)):
        with window_width(browser, width):
            open_page(browser, example_pages["branch"])
            assert shown('#cb-summary th[data-figure="macs"]') == [not folded]
            assert set(shown("#m0 table.cb-layers th.cb-minor")) == {not folded}
            assert [th.get_attribute("textContent") for th in browser.find_elements(
                "css selector", "#m0 table.cb-layers th.cb-minor")] == ["kind", "stride", "groups", "bias"]
            assert all(shown('#cb-summary th[data-figure="flops"], #m0 table.cb-layers th.num:not(.cb-minor):not(.cb-wide)'))
            assert shown("#m0 table.cb-layers th.cb-wide") == [False]  # output bytes: from 1400 px
    with window_width(browser, 1400):
        open_page(browser, example_pages["branch"])
        assert shown("#m0 table.cb-layers th.cb-wide") == [True]


def test_a_long_list_of_regressions_folds_after_ten_and_a_folded_row_opens_onto_its_blocks(
    browser: Any, tmp_path: Path
) -> None:
    """500 measurements of a 12-layer causal LM, 92 of them grown past the gate (``lm_cases.big_report``):
    the page opens on ten regressions and a "show 82 more"; a measurement's folded rows
    (``model.layers.* ×12``) open onto their twelve blocks with one click, and stay with them when sorted."""
    from lm_cases import big_report

    path = tmp_path / "lm.html"
    path.write_text(render_html(big_report()), encoding="utf-8")
    with window_width(browser, 1280):
        open_page(browser, path)
        assert console_messages(browser) == []

        def shown(css: str) -> list[Any]:
            return [item for item in browser.find_elements("css selector", css) if item.is_displayed()]

        assert len(shown("ul.cb-regressions li")) == 10
        more = browser.find_element("css selector", "details.cb-regressions-more > summary")
        assert more.text == "show 82 more" and more.value_of_css_property("color") == RED
        more.click()
        assert len(shown("ul.cb-regressions li")) == 92
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth;")

        wait_for(browser, "#m0 table.cb-pairs")
        group = browser.find_element("css selector", "#m0 table.cb-pairs tr.cb-group")
        assert " ".join(group.text.split()).startswith("▸model.layers.* ×12 3,520,512 4,306,944 +22.3%")  # ▸: a button
        assert shown("#m0 table.cb-pairs tr.cb-member") == []
        group.find_element("css selector", "button.cb-toggle").click()
        members = shown("#m0 table.cb-pairs tr.cb-member")
        assert [row.text.split()[0] for row in members] == [f"model.layers.{index}" for index in range(12)]
        moved = browser.find_element("css selector", "#m0 table.cb-moved tr.cb-group")
        assert moved.text.split()[:2] == ["▸model.layers.*.mlp.fc1", "×12"]

        layers = browser.find_element("css selector", "#m0 table.cb-layers")
        first = layers.find_element("css selector", "tbody tr.cb-group")
        assert first.text.split()[:2] == ["▸model.layers.*.attn", "×12"]
        first.find_element("css selector", "button.cb-toggle").click()
        assert len(shown("#m0 table.cb-layers tr.cb-member")) == 12
        layers.find_elements("css selector", "thead th")[9].click()  # sort by FLOPs: members move with their row
        rows = browser.execute_script(
            "return Array.from(arguments[0].tBodies[0].rows).map(r => r.className);", layers)
        start = rows.index("cb-group")
        assert rows[start + 1:start + 13] == ["cb-member"] * 12
