"""The pull-request flow as a new user meets it (issue 9): a small project of four models, markers,
patterns, a baseline saved on main, a widened layer and a new model on a branch.

Each test replays the user's steps with ``pytester`` and reads what a person
reads: the comment, the terminal section, the last line of the log, the exit
status, and the baseline file left behind. Costs are counted by hand below.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from plugin_helpers import (  # noqa: F401  (preloaded: a fixture, requested by name)
    assert_no_traceback, backbone_module, conv_budget_section, preloaded, usage_error_lines,
)
from pytest_convbudget.render.phrases import MERGE_HINT
from pytest_convbudget.render.markdown import COMMENT_MARKER
from pytest_convbudget.ci.runfile import load_run_file
from pytest_convbudget.render.phrases import DESELECT_SOURCES

# test_backbone: Sequential(stem=Conv2d(3, 8, 3), body=Conv2d(8, W, 3)), bias, on 1x3x16x16 (as in test_gate):
#   W = 8 (main): params 808, FLOPs 250,560, MACs 125,280
#   W = 9 (branch): params 881 (+9.0%), FLOPs 271,296 (+8.3%), MACs 135,648 (+8.3%); body 165,888 -> 186,624 (+12.5%)
# test_stem: Sequential(Conv2d(3, 4, 1, bias=False)) on 1x3x16x16: FLOPs (2*3 - 1)*4*256 = 5,120, layer "0"
# test_audio: Conv1d(1, C, 3) with bias on 1x1x100: 98 outputs; C = 4: MACs 3*4*98 = 1,176, FLOPs 2,352
# test_head (branch only): Conv2d(3, 16, 3) with bias on 1x3x16x16: 196 outputs; MACs 27*16*196 = 84,672,
#   FLOPs 169,344: over the table's 100k FLOPs default by 69.3%
MODELS = backbone_module("PR_WIDTH") + """

@pytest.mark.budget(flops="300k")
def test_backbone(conv_cost):
    conv_cost(backbone(), torch.randn(1, 3, 16, 16))


def test_stem(conv_cost):
    conv_cost(nn.Sequential(nn.Conv2d(3, 4, 1, bias=False)), torch.randn(1, 3, 16, 16), name="stem")


@pytest.mark.audio
def test_audio(conv_cost):
    assert not os.environ.get("PR_AUDIO_FAILS")
    conv_cost(nn.Conv1d(1, int(os.environ.get("PR_AUDIO", "4")), 3), torch.randn(1, 1, 100), name="audio")


def test_head(conv_cost):
    if os.environ.get("PR_HEAD"):
        conv_cost(nn.Conv2d(3, 16, 3), torch.randn(1, 3, 16, 16), name="head")
"""
FILE = "test_pr_models.py"
STEM_LIMIT = "STEM_LIMIT"


def pyproject(stem_flops: str = "1M", extra: str = "") -> str:
    return textwrap.dedent(f"""\
        [tool.pytest.ini_options]
        markers = ["audio: audio models"]

        [tool.convbudget]
        flops = "100k"
        max_increase = 5

        [tool.convbudget.budgets]
        "*::test_stem" = {{ flops = "{stem_flops}" }}
        """) + extra


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, preloaded: None) -> None:
    for variable in ("GITHUB_STEP_SUMMARY", "PR_WIDTH", "PR_HEAD", "PR_AUDIO", "PR_AUDIO_FAILS"):
        monkeypatch.delenv(variable, raising=False)
    pytester.makepyprojecttoml(pyproject())
    pytester.makepyfile(test_pr_models=MODELS)


def main_baseline(pytester: pytest.Pytester) -> bytes:
    """The job on main: the whole suite saved as the baseline."""
    result = pytester.runpytest("--conv-save-baseline=baseline.json")
    result.assert_outcomes(passed=4)
    assert "wrote baseline baseline.json (3 measurements)" in conv_budget_section(result.outlines)
    return (pytester.path / "baseline.json").read_bytes()


def branch(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The branch: body widened (8 -> 9), a new model over its budget, and stem's pattern limit tightened."""
    monkeypatch.setenv("PR_WIDTH", "9")
    monkeypatch.setenv("PR_HEAD", "1")
    pytester.makepyprojecttoml(pyproject(stem_flops="5k"))


HEADLINE = "1 of 4 measurements changed, 1 new, 0 removed; 2 over budget, 1 grew past the allowed increase"
COMMENT_FAILURES = [
    COMMENT_MARKER,
    f"❌ **conv budget**: {HEADLINE}",
    "",
    "**Over budget (2):**",
    f"- `stem` in `{FILE}::test_stem` (unchanged): FLOPs 5.12 k > 5.00 k (+2.4%), limit from "
    "`pyproject.toml [tool.convbudget.budgets] '*::test_stem' flops`; costliest by FLOPs: `0` 5.12 k",
    f"- `head` in `{FILE}::test_head` (new): FLOPs 169 k > 100 k (+69.3%), limit from "
    "`pyproject.toml [tool.convbudget] flops`; costliest by FLOPs: `(root)` 169 k",
    "",
    "**Grew past the allowed increase (1):**",
    f"- {FILE}::test_backbone [Sequential]: params +9.0% (808 -> 881), FLOPs +8.3% (251 k -> 271 k), "
    "MACs +8.3% (125 k -> 136 k), more than the 5% allowed; grew in body",
    "",
    "2 unchanged measurement(s) not shown.",  # every change failed: no table repeats them
]


def test_the_comment_names_every_failure_before_the_table(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged measurement over its (tightened) budget and a new one over the default are named with
    figure, value, limit, overshoot, the limit's source and the costliest layers; then the regression.
    Each is named once: the new one is not listed again under new, nor the regression in a table."""
    main_baseline(pytester)
    branch(pytester, monkeypatch)
    result = pytester.runpytest("--conv-baseline=baseline.json", "--conv-markdown=comment.md")
    result.assert_outcomes(passed=2, failed=2)
    body = (pytester.path / "comment.md").read_text(encoding="utf-8")
    assert body.splitlines()[:len(COMMENT_FAILURES)] == COMMENT_FAILURES
    assert f"- new: `head` in `{FILE}::test_head` (169 k FLOPs)" not in body.splitlines()
    for test in ("test_stem", "test_head", "test_backbone"):
        assert body.count(f"{FILE}::{test}") == 1 + body.count(f"<code>{FILE}::{test}</code>"), test


def test_the_terminal_names_them_too_and_ends_with_the_headline(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    main_baseline(pytester)
    branch(pytester, monkeypatch)
    result = pytester.runpytest("--conv-baseline=baseline.json")
    section = conv_budget_section(result.outlines)
    start = section.index("OVER BUDGET: 2 measurement(s) over their limits:")
    assert section[start + 1:start + 4] == [
        f"  {FILE}::test_stem [stem] (unchanged since the baseline)",
        "    FLOPs 5.12 k (5,120) > limit 5.00 k (5,000) by 2.4% "
        "[limit from pyproject.toml [tool.convbudget.budgets] '*::test_stem' flops]",
        "    costliest layers by FLOPs: 0 5.12 k",
    ]
    assert section[-1] == f"conv budget: {HEADLINE}"


def diff(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_convbudget", "diff", *args],
        cwd=folder, capture_output=True, text=True, encoding="utf-8", timeout=60,
    )


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_diff_gives_the_plugins_verdict_text_and_exit_status(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: tuple[str, ...]
) -> None:
    """`diff BASE HEAD` on the plugin's own two files reads the same [tool.convbudget] (max_increase = 5):
    the same comment byte for byte, the same terminal text, and exit 1 like the pytest run."""
    main_baseline(pytester)
    branch(pytester, monkeypatch)
    args = ("--conv-baseline=baseline.json", "--conv-json=head.json", "--conv-markdown=comment.md")
    if workers:
        result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", *workers, *args)
    else:
        result = pytester.runpytest(*args)
    assert result.ret == 1
    markdown = diff(pytester.path, "baseline.json", "head.json", "--format", "markdown")
    assert markdown.returncode == 1, markdown.stderr
    assert markdown.stdout == (pytester.path / "comment.md").read_text(encoding="utf-8")
    text = diff(pytester.path, "baseline.json", "head.json")
    assert text.returncode == 1
    plugin_text = [line for line in conv_budget_section(result.outlines) if not line.startswith("wrote ")]
    assert text.stdout.splitlines() == plugin_text


def test_diff_flags_override_the_table_and_config_names_another_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    main_baseline(pytester)
    monkeypatch.setenv("PR_WIDTH", "9")
    result = pytester.runpytest("--conv-json=head.json")
    result.assert_outcomes(passed=4)
    gated = diff(pytester.path, "baseline.json", "head.json")
    assert gated.returncode == 1
    assert gated.stdout.splitlines()[-1] == (
        "conv budget: 1 of 3 measurements changed, 0 new, 0 removed; 1 grew past the allowed increase"
    )
    loosened = diff(pytester.path, "baseline.json", "head.json", "--max-increase", "10")
    assert loosened.returncode == 0
    assert loosened.stdout.splitlines()[-1] == "conv budget: 1 of 3 measurements changed, 0 new, 0 removed; all within limits"
    (pytester.path / "other.toml").write_text("[tool.convbudget]\nmax_increase = 50\n", encoding="utf-8")
    assert diff(pytester.path, "baseline.json", "head.json", "--config", "other.toml").returncode == 0
    (pytester.path / "bad.toml").write_text("[tool.convbudget]\nmax_increase = 'lots'\n", encoding="utf-8")
    bad = diff(pytester.path, "baseline.json", "head.json", "--config", "bad.toml")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.splitlines() == [
        "convbudget diff: error: bad.toml: [tool.convbudget] max_increase = 'lots': "
        "expected a non-negative percentage such as 5 or '5%'"
    ]


def test_diff_finds_the_pyproject_from_a_subfolder(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from anywhere in the project, as pytest would be: the rootdir's table applies."""
    main_baseline(pytester)
    monkeypatch.setenv("PR_WIDTH", "9")
    pytester.runpytest("--conv-json=head.json").assert_outcomes(passed=4)
    folder = pytester.mkdir("ci")
    done = diff(folder, "../baseline.json", "../head.json")
    assert done.returncode == 1
    assert "REGRESSION: 1 measurement(s) grew more than allowed:" in done.stdout.splitlines()


# -- the last line tells ---------------------------------------------------------


FINAL = r"=+ {} in [\d.]+s =+"


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_gate_failure_shows_on_the_last_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: tuple[str, ...]
) -> None:
    main_baseline(pytester)
    monkeypatch.setenv("PR_WIDTH", "9")
    if workers:
        result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", *workers, "--conv-baseline=baseline.json")
    else:
        result = pytester.runpytest("--conv-baseline=baseline.json")
    assert result.ret == 1
    assert re.fullmatch(FINAL.format("4 passed, 1 conv budget regression"), result.stdout.lines[-1])


def test_warned_overruns_and_unwritable_files_show_on_the_last_line(pytester: pytest.Pytester) -> None:
    """--conv-budget=warn passes the run but counts the overruns; a file that could not be written fails it
    (its folder was writable at the start, then a test put a file where the folder would go)."""
    pytester.makepyprojecttoml(pyproject(stem_flops="5k"))
    pytester.makepyfile(test_zz_blocker="def test_blocks_the_output_folder():\n    open('out', 'w').close()\n")
    result = pytester.runpytest("--conv-budget=warn", "--conv-json=out/run.json")
    assert result.ret == 1
    assert re.fullmatch(
        FINAL.format("5 passed, 1 warning, 1 conv budget overrun [(]warn[)], 1 conv budget file not written"),
        result.stdout.lines[-1],
    )
    quiet = pytester.runpytest("--conv-budget=warn", "-q")
    assert quiet.ret == 0
    assert re.fullmatch(r"5 passed, 1 warning, 1 conv budget overrun \(warn\) in [\d.]+s", quiet.stdout.lines[-1])


# -- baselines never shrink by accident --------------------------------------------------------------


DESELECTED = f"3 collected test(s) were deselected ({DESELECT_SOURCES})"
SELECTIONS = [
    pytest.param(("-k", "audio"), DESELECTED, id="-k"),
    pytest.param(("-m", "audio"), DESELECTED, id="-m"),
    pytest.param((f"{FILE}::test_audio",), f"the command line ran only part of the suite ({FILE}::test_audio)",
                 id="node-id"),
    pytest.param((FILE,), f"the command line ran only part of the suite ({FILE})", id="a-file"),
    pytest.param((f"--deselect={FILE}::test_audio",),
                 f"1 collected test(s) were deselected ({DESELECT_SOURCES})", id="--deselect"),
    pytest.param((), f"1 collected test(s) were deselected ({DESELECT_SOURCES})", id="a-conftest-plugin"),
]
DESELECTOR = '''
def pytest_collection_modifyitems(config, items):
    dropped = [item for item in items if item.name == "test_head"]
    items[:] = [item for item in items if item not in dropped]
    config.hook.pytest_deselected(items=dropped)
'''


@pytest.mark.parametrize(("args", "reason"), SELECTIONS)
def test_a_partial_run_keeps_the_baseline_and_says_why(
    pytester: pytest.Pytester, args: tuple[str, ...], reason: str
) -> None:
    """`pytest -k audio --conv-save-baseline` used to replace 3 measurements with 1; the next PR gated nothing."""
    before = main_baseline(pytester)
    if not args:  # any plugin that deselects, here a conftest.py
        pytester.makeconftest(DESELECTOR)
    result = pytester.runpytest(*args, "--conv-save-baseline=baseline.json")
    assert result.ret == 0
    lines = [line for line in conv_budget_section(result.outlines) if "baseline" in line]
    assert lines == [f"baseline not saved to baseline.json: {reason}; the old file is left as it was ({MERGE_HINT})"]
    assert (pytester.path / "baseline.json").read_bytes() == before


def test_a_partial_run_under_xdist_keeps_the_baseline(pytester: pytest.Pytester) -> None:
    """Workers collect and deselect; the controller must still learn the run was partial."""
    before = main_baseline(pytester)
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-n", "2", "-k", "audio",
                                           "--conv-save-baseline=baseline.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"baseline not saved to baseline.json: {DESELECTED}*"])
    assert (pytester.path / "baseline.json").read_bytes() == before


def test_last_failed_keeps_the_baseline(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """--lf reruns the one failure and skips whole files without deselecting them: still a partial run."""
    before = main_baseline(pytester)
    monkeypatch.setenv("PR_AUDIO_FAILS", "1")
    pytester.runpytest().assert_outcomes(passed=3, failed=1)
    monkeypatch.delenv("PR_AUDIO_FAILS")
    result = pytester.runpytest("--lf", "--conv-save-baseline=baseline.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["baseline not saved to baseline.json: --lf ran only the tests that failed last time*"])
    assert (pytester.path / "baseline.json").read_bytes() == before


def test_failed_first_only_reorders_so_it_saves(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """--ff runs the last failures first, then everything else: the whole suite, so the baseline is replaced."""
    main_baseline(pytester)
    monkeypatch.setenv("PR_AUDIO_FAILS", "1")
    pytester.runpytest().assert_outcomes(passed=3, failed=1)
    monkeypatch.delenv("PR_AUDIO_FAILS")
    result = pytester.runpytest("--ff", "--conv-save-baseline=baseline.json")
    result.assert_outcomes(passed=4)
    assert "wrote baseline baseline.json (3 measurements)" in conv_budget_section(result.outlines)


def test_a_selection_that_keeps_every_test_still_saves(pytester: pytest.Pytester) -> None:
    main_baseline(pytester)
    result = pytester.runpytest("-k", "test_", "--conv-save-baseline=baseline.json")
    result.assert_outcomes(passed=4)
    assert "wrote baseline baseline.json (3 measurements)" in conv_budget_section(result.outlines)


def test_merge_updates_only_what_the_run_measured(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The explicit way to refresh part of a baseline: the audio test's entry changes, the others stay as saved."""
    main_baseline(pytester)
    before = load_run_file(pytester.path / "baseline.json")
    monkeypatch.setenv("PR_AUDIO", "8")
    result = pytester.runpytest("-k", "audio", "--conv-merge-baseline=baseline.json")
    result.assert_outcomes(passed=1, deselected=3)
    assert ("wrote baseline baseline.json (merged: 1 measured test(s) updated, 3 measurements)"
            in conv_budget_section(result.outlines))
    after = load_run_file(pytester.path / "baseline.json")
    assert [e.key for e in after.entries] == [e.key for e in before.entries]
    assert [e.to_dict() for e in after.entries if e.measurement.name != "audio"] == [
        e.to_dict() for e in before.entries if e.measurement.name != "audio"
    ]
    (audio,) = [e for e in after.entries if e.measurement.name == "audio"]
    assert audio.measurement.cost.flops == 4_704  # Conv1d(1, 8, 3): 2 * 3*8*98


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--conv-merge-baseline=missing.json",),
         "missing.json: no baseline to merge into: --conv-merge-baseline updates an existing baseline "
         "(save a whole one first with --conv-save-baseline)"),
        (("--conv-merge-baseline=baseline.json", "--conv-save-baseline=baseline.json"),
         "--conv-save-baseline and --conv-merge-baseline: give one of them"),
    ],
    ids=["missing", "with-save"],
)
def test_merge_needs_an_existing_baseline_and_no_save(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    main_baseline(pytester)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert usage_error_lines(result) == [f"ERROR: pytest-convbudget: {message}"]
    assert_no_traceback(result.outlines + result.errlines)


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_patterns_count_deselected_tests_as_matched(pytester: pytest.Pytester, workers: tuple[str, ...]) -> None:
    """`-k audio` deselects test_stem: its pattern still matches the suite, so no warning; a real typo still warns."""
    pytester.makepyprojecttoml(pyproject(extra='"*::test_stme" = { flops = "1M" }\n'))
    if workers:
        result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", *workers, "-k", "audio")
        result.assert_outcomes(passed=1)
    else:
        result = pytester.runpytest("-k", "audio")
        result.assert_outcomes(passed=1, deselected=3)
    warnings = [line for line in result.outlines if "matches no collected test" in line]
    assert warnings == ["warning: pyproject.toml [tool.convbudget.budgets] '*::test_stme' matches no collected test"]


def test_diff_json_names_the_overruns(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    main_baseline(pytester)
    branch(pytester, monkeypatch)
    pytester.runpytest("--conv-json=head.json").assert_outcomes(passed=2, failed=2)
    done = diff(pytester.path, "baseline.json", "head.json", "--format", "json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["headline"] == HEADLINE
    assert data["over_budget"] == [
        {"test_id": f"{FILE}::test_stem", "name": "stem", "per": "sample", "standing": "unchanged", "overruns": [
            {"figure": "flops", "value": 5_120, "limit": 5_000, "percent_over": 2.4,
             "source": "pyproject.toml [tool.convbudget.budgets] '*::test_stem' flops"}]},
        {"test_id": f"{FILE}::test_head", "name": "head", "per": "sample", "standing": "new", "overruns": [
            {"figure": "flops", "value": 169_344, "limit": 100_000, "percent_over": 69.344,
             "source": "pyproject.toml [tool.convbudget] flops"}]},
    ]
    warned = diff(pytester.path, "baseline.json", "head.json", "--budget", "warn", "--max-increase", "10")
    assert warned.returncode == 0
    assert warned.stdout.splitlines()[-1] == (
        "conv budget: 1 of 4 measurements changed, 1 new, 0 removed; 2 over budget (warn)"
    )


@pytest.mark.parametrize(
    ("testpaths", "args", "saved"),
    [
        pytest.param(None, ("models",), True, id="a-folder-without-testpaths-is-the-suite"),
        pytest.param(None, (), True, id="no-arguments"),
        pytest.param('["models"]', ("models",), True, id="the-testpaths-folder"),
        pytest.param('["models"]', (), True, id="testpaths-by-default"),
        pytest.param('["models"]', ("models/audio",), False, id="a-folder-below-testpaths"),
    ],
)
def test_folders_on_the_command_line(
    pytester: pytest.Pytester, testpaths: str | None, args: tuple[str, ...], saved: bool
) -> None:
    """`pytest tests` is how many projects run their whole suite; with testpaths set, less than it is partial."""
    extra = "" if testpaths is None else f"testpaths = {testpaths}\n"
    pytester.makepyprojecttoml(pyproject().replace("[tool.pytest.ini_options]\n", "[tool.pytest.ini_options]\n" + extra))
    (pytester.path / FILE).unlink()
    pytester.mkdir("models")
    pytester.mkdir("models/audio")
    (pytester.path / "models" / FILE).write_text(MODELS, encoding="utf-8")
    (pytester.path / "models" / "audio" / "test_audio_models.py").write_text(
        "def test_nothing_measured():\n    pass\n", encoding="utf-8"
    )
    result = pytester.runpytest(*args, "--conv-save-baseline=baseline.json")
    assert result.ret == 0
    assert (pytester.path / "baseline.json").exists() == saved
    if not saved:
        result.stdout.fnmatch_lines(["baseline not saved to baseline.json: the command line ran only part of the suite (models/audio)*"])
