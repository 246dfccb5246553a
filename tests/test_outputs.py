"""The table of outputs as a user meets it: every format has its option, its file line, and
``diff --format``; a new format is one renderer and one entry, seen by all three at once.

Also the two JSON files' names: ``--conv-run-file`` (still ``--conv-json``) writes the run
file, the measurements themselves; ``--conv-comparison-json`` writes the comparison JSON,
the verdict against a baseline, exactly as ``diff --format json`` prints it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from plugin_helpers import preloaded, write_pyproject  # noqa: F401  (preloaded: a fixture, requested by name)

from pytest_convbudget.ci.runfile import load_run_file
from pytest_convbudget.render.outputs import (
    COMPARISON_JSON,
    HTML_REPORT,
    OUTPUTS,
    Output,
    file_outputs,
)

MODELS = """
import os

import torch
from torch import nn


def test_backbone(conv_cost):
    width = int(os.environ.get("OUTPUTS_WIDTH", "8"))
    conv_cost(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, width, 3)), torch.randn(1, 3, 16, 16), name="backbone")
"""
# A brand-new format, defined outside the package: a renderer is any function of a run report.
SHOUT = '''
from pytest_convbudget.render.phrases import headline


def render_shout(report):
    return headline(report).upper() + "\\n"
'''


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, preloaded: None) -> None:
    monkeypatch.delenv("OUTPUTS_WIDTH", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    write_pyproject(pytester)
    pytester.makepyfile(test_outputs_models=MODELS)
    assert pytester.runpytest("--conv-save-baseline=base.json").ret == 0
    monkeypatch.setenv("OUTPUTS_WIDTH", "9")


def test_every_file_output_has_an_option_a_label_and_a_diff_format() -> None:
    assert [(o.format, o.option, o.label) for o in file_outputs()] == [
        ("markdown", "--conv-markdown", "markdown"),
        ("json", "--conv-comparison-json", COMPARISON_JSON),
        ("html", "--conv-html", HTML_REPORT),
    ]
    assert list(OUTPUTS) == ["text", "markdown", "json", "html"]


def test_the_comparison_json_is_what_diff_prints(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--conv-baseline=base.json", "--conv-comparison-json=out/comparison.json",
                                "--conv-run-file=head.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["wrote run file head.json (1 measurements)", "wrote comparison JSON out/comparison.json"])
    written = (pytester.path / "out" / "comparison.json").read_text(encoding="utf-8")
    diffed = subprocess.run(
        [sys.executable, "-m", "pytest_convbudget", "diff", "base.json", "head.json", "--format", "json"],
        cwd=pytester.path, capture_output=True, text=True, encoding="utf-8", check=False,
    )
    assert diffed.returncode == 0, diffed.stderr
    assert written == diffed.stdout
    comparison = json.loads(written)
    assert comparison["headline"] == "1 of 1 measurements changed, 0 new, 0 removed; all within limits"
    assert comparison["changed"][0]["figures"][1] == {
        "figure": "flops", "before": 250_560, "after": 271_296, "delta": 20_736, "percent": 8.2759}
    # the run file is another thing: the measurements themselves, the baseline format
    assert [entry.measurement.cost.flops for entry in load_run_file(pytester.path / "head.json").entries] == [271_296]


def test_the_run_file_option_keeps_its_old_spelling(pytester: pytest.Pytester) -> None:
    """--conv-json, the name in 0.2, is the same option as --conv-run-file: the same file, byte for byte."""
    result = pytester.runpytest("--conv-run-file=new.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["wrote run file new.json (1 measurements)"])
    pytester.runpytest("--conv-json=old.json").stdout.fnmatch_lines(["wrote run file old.json (1 measurements)"])
    assert (pytester.path / "new.json").read_bytes() == (pytester.path / "old.json").read_bytes()


def test_a_new_format_is_one_renderer_and_one_entry(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The option, the gate's file and its line, and diff --format all come from the one entry."""
    pytester.makepyfile(shout_format=SHOUT)
    pytester.syspathinsert()
    shout = Output("shout", "shout_format:render_shout", "shouted verdict", "--conv-shout", help="shout the verdict")
    monkeypatch.setitem(OUTPUTS, "shout", shout)

    result = pytester.runpytest("--conv-baseline=base.json", "--conv-shout=verdict.txt", "--conv-run-file=head.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["wrote shouted verdict verdict.txt"])
    shouted = "1 OF 1 MEASUREMENTS CHANGED, 0 NEW, 0 REMOVED; ALL WITHIN LIMITS\n"
    assert (pytester.path / "verdict.txt").read_text(encoding="utf-8") == shouted

    from pytest_convbudget.cli.diff import console_main

    monkeypatch.chdir(pytester.path)
    assert console_main(["base.json", "head.json", "--format", "shout"]) == 0
    assert pytester.runpytest("--help").stdout.str().count("--conv-shout") == 1


def test_a_format_that_cannot_be_drawn_is_one_line_and_a_failed_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(broken_format=textwrap.dedent('''
        from pytest_convbudget.words.errors import OutputUnavailable


        def render(report):
            raise OutputUnavailable("this format needs a package: pip install it")
        '''))
    pytester.syspathinsert()
    monkeypatch.setitem(OUTPUTS, "broken", Output("broken", "broken_format:render", "broken page", "--conv-broken"))
    result = pytester.runpytest("--conv-broken=page.txt", "--conv-markdown=comment.md")
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "cannot write broken page page.txt: this format needs a package: pip install it",
        "*1 passed, 1 conv budget file not written in*",
    ])
    assert (pytester.path / "comment.md").exists() and not (pytester.path / "page.txt").exists()
