"""``--conv-html PATH`` as a CI job uses it: the page is written beside the other files, from the same report.

Real pytester sessions on the gate's two-conv backbone (costs counted by hand
in ``plugin_helpers.backbone_module``): main saves a baseline, the PR's run
grows ``body`` from 8 to 16 channels and writes the page. What is checked is
what a job sees: the line saying the file was written, the file, and for a
path that can't be written one line, a failed session and the last line's
count. The page itself is checked in a browser by ``test_html_browser.py``.
"""

from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_helpers import (  # noqa: F401
    assert_no_traceback,
    backbone_module,
    conv_budget_section,
    preloaded,
    write_pyproject,
)

from pytest_convbudget.render.outputs import HTML_REPORT
from pytest_convbudget.render.phrases import not_written

WIDTH = "CONVBUDGET_HTML_TEST_WIDTH"
MODELS = backbone_module(WIDTH) + '''

@pytest.mark.budget(flops="1M")
def test_backbone(conv_cost):
    conv_cost(backbone(), torch.randn(1, 3, 16, 16))
'''
# W = 8 -> 16: params 808 -> 1,392 (+72.3%), FLOPs 250,560 -> 416,448 (+66.2%), MACs 125,280 -> 208,224
GREW = "1 of 1 measurements changed, 0 new, 0 removed; 1 grew past the allowed increase"


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, preloaded: None) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv(WIDTH, raising=False)
    write_pyproject(pytester, "[tool.convbudget]\nmax_increase = 5\n")
    pytester.makepyfile(test_html_models=MODELS)


def test_the_page_is_written_from_the_report_diff_renders_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PR job's page says what its comment says, and ``diff --format html`` on its files draws the same bytes."""
    pytester.runpytest("--conv-save-baseline=baseline.json").assert_outcomes(passed=1)
    monkeypatch.setenv(WIDTH, "16")
    result = pytester.runpytest("--conv-baseline=baseline.json", "--conv-json=head.json", "--conv-html=out/report.html")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the 5% gate
    section = conv_budget_section(result.outlines)
    assert "wrote HTML report out/report.html" in section
    page = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert f"<strong>{GREW}</strong>" in page
    assert html.escape("params +72.3% (808 -> 1.39 k)", quote=False) in page
    done = subprocess.run(
        [sys.executable, "-m", "pytest_convbudget", "diff", "baseline.json", "head.json", "--format", "html"],
        cwd=pytester.path, capture_output=True, text=True, encoding="utf-8", timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == page


def test_without_a_baseline_the_option_alone_writes_the_page(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--conv-html=report.html")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert "<strong>1 measurements, 0 over budget; no baseline to compare with</strong>" in page
    assert "test_html_models.py::test_backbone" in page


def test_an_unwritable_page_is_one_line_a_failed_session_and_counted_last(pytester: pytest.Pytester) -> None:
    """Writable when the session started (an unwritable path is refused then), blocked by the time it ends."""
    pytester.makepyfile(test_zz_blocker="def test_blocks_the_page_folder():\n    open('a_file', 'w').close()\n")
    result = pytester.runpytest("--conv-html=a_file/report.html")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    (line,) = [line for line in result.outlines if "a_file/report.html" in line]
    assert line.startswith(not_written(HTML_REPORT, Path("a_file/report.html"), ""))
    assert "1 conv budget file not written" in result.outlines[-1]
    assert_no_traceback(result.outlines + result.errlines)


def test_without_jinja2_the_page_costs_one_line_saying_what_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)  # makes `import jinja2` fail
    result = pytester.runpytest("--conv-html=report.html")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not_written(HTML_REPORT, Path("report.html"), "the HTML report needs Jinja2: "
                       "pip install 'pytest-convbudget[html]'") in conv_budget_section(result.outlines)
    assert "1 conv budget file not written" in result.outlines[-1]
    assert not (pytester.path / "report.html").exists()


def test_the_option_is_in_pytest_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--conv-html=PATH*write the run as one self-contained HTML page to PATH*"])
