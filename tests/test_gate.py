"""The CI regression gate as a user meets it: baselines, comparisons, the max-increase gate and the run files.

Each test runs real pytest sessions with ``pytester`` on a small test module
whose model grows or shrinks with an environment variable, so a "grown" and a
"shrunk" model are real profiles, and reads what CI would read: the files
written, the terminal lines and the exit status. The costs are counted by hand
below (as in ``plugin_helpers``: a conv with bias costs 2 FLOPs per MAC), so
every figure is asserted to the digit.
"""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

import pytest
import torch

from plugin_helpers import (
    assert_no_traceback, backbone_module, conv_budget_section, row, usage_error_lines, write_pyproject,
)
from pytest_convbudget.render.phrases import STALE_NOTE
from pytest_convbudget import COST_MODEL_VERSION
from pytest_convbudget.render.markdown import COMMENT_MARKER
from pytest_convbudget.ci.runfile import SCHEMA, SCHEMA_VERSION, load_run_file, write_atomically

WIDTH = "CONVBUDGET_TEST_WIDTH"
STEM_NAME = "CONVBUDGET_TEST_STEM_NAME"

# ``backbone()``: Sequential(stem=Conv2d(3, 8, 3), body=Conv2d(8, W, 3)), both with bias, on 1x3x16x16.
#   stem: out 14x14 = 196; params 3*8*9 + 8 = 224; MACs 27*8*196 = 42,336; FLOPs 2*MACs = 84,672
#   body: out 12x12 = 144; params 72W + W = 73W; MACs 72*W*144 = 10,368W; FLOPs 20,736W
# W = 8 (the baseline): params 808, FLOPs 250,560, MACs 125,280
# W = 9: params 881 (+9.0%), FLOPs 271,296 (+8.3%), MACs 135,648
# W = 16: params 1,392 (+72.3%), FLOPs 416,448 (+66.2%), MACs 208,224 (+66.2%)
# W = 4: params 516 (-36.1%), FLOPs 167,616 (-33.1%), MACs 83,808 (-33.1%)
# The stem test: Conv2d(3, 4, 1, bias=False): params 12, MACs 3*4*256 = 3,072, FLOPs (2*3 - 1)*4*256 = 5,120
BACKBONE_ID = "test_gate_models.py::test_backbone"
STEM_ID = "test_gate_models.py::test_stem"

GATE_MODELS = backbone_module(WIDTH) + f'''

@pytest.mark.budget(flops="1M")
def test_backbone(conv_cost):
    conv_cost(backbone(), torch.randn(1, 3, 16, 16))


def test_stem(conv_cost):
    name = os.environ.get("{STEM_NAME}", "stem")
    conv_cost(nn.Conv2d(3, 4, 1, bias=False), torch.randn(1, 3, 16, 16), name=name)
'''


@pytest.fixture(scope="module", autouse=True)
def warm_imports() -> None:
    """Import once, here, what the inner sessions would otherwise import afresh in every run.

    pytester's in-process runs drop the modules a run imported when it ends;
    hypothesis (loaded by its pytest plugin at the terminal summary, and
    assertion-rewritten as a plugin distribution) and torch's lazily loaded
    meta-device kernels then cost about two seconds per session.
    """
    import hypothesis  # noqa: F401

    from pytest_convbudget import profile

    profile(torch.nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8), device="meta")


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh project per test, and no CI step summary leaking in from the machine running the suite."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv(WIDTH, raising=False)
    monkeypatch.delenv(STEM_NAME, raising=False)
    write_pyproject(pytester, "[tool.convbudget]\n")
    pytester.makepyfile(test_gate_models=GATE_MODELS)


def save_baseline(pytester: pytest.Pytester, path: str = "baseline.json") -> Path:
    """The main branch's run: the unchanged models saved as the baseline."""
    result = pytester.runpytest(f"--conv-save-baseline={path}")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    return pytester.path / path


def compare(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A pull request's run against the saved baseline."""
    return pytester.runpytest("--conv-baseline=baseline.json", *args)


def assert_lines_match(lines: list[str], patterns: list[str]) -> None:
    """Each line matches its regex (the aligned table rows), in order."""
    assert len(lines) == len(patterns), lines
    for line, pattern in zip(lines, patterns):
        assert re.match(pattern, line), (line, pattern)


# -- saving --------------------------------------------------------------------


def test_save_baseline_writes_every_measurement_with_exact_integers(pytester: pytest.Pytester) -> None:
    """The baseline is the whole record CI keeps: versions to explain differences, and each measurement in full."""
    pytester.makepyfile(
        test_gate_zfailing="""
        import torch
        from torch import nn


        def test_measured_then_failed(conv_cost):
            conv_cost(nn.Conv2d(3, 4, 1, bias=False), torch.randn(2, 3, 16, 16))
            assert False, "a failure after measuring"
        """
    )
    result = pytester.runpytest("--conv-save-baseline=ci/baseline.json")
    result.assert_outcomes(passed=2, failed=1)
    assert "wrote baseline ci/baseline.json (3 measurements)" in conv_budget_section(result.outlines)

    data = json.loads((pytester.path / "ci" / "baseline.json").read_text(encoding="utf-8"))
    assert data["schema"] == SCHEMA
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["cost_model_version"] == COST_MODEL_VERSION
    assert data["environment"]["python"] == platform.python_version()
    assert data["environment"]["torch"] == torch.__version__
    assert data["environment"]["device"] == "auto"  # the configured device; each cost says where it ran

    backbone, stem, failing = data["measurements"]
    assert (backbone["test_id"], backbone["name"]) == (BACKBONE_ID, "Sequential")
    assert (stem["test_id"], stem["name"]) == (STEM_ID, "stem")
    assert failing["test_id"] == "test_gate_zfailing.py::test_measured_then_failed"
    assert [m["outcome"] for m in data["measurements"]] == ["passed", "passed", "failed"]

    cost = data["costs"][backbone["cost"]]  # each cost once, a measurement names its place
    assert cost["input_shapes"] == [[1, 3, 16, 16]]
    assert (cost["params"], cost["flops"], cost["macs"]) == (808, 250_560, 125_280)
    assert all(type(cost[key]) is int for key in ("params", "flops", "macs", "total_flops", "total_macs"))
    layers = [dict(zip(data["layer_fields"], data["layers"][place])) for place in cost["layers"]]
    assert [(layer["name"], layer["params"], layer["flops"], layer["macs"]) for layer in layers] == [
        ("stem", 224, 84_672, 42_336),
        ("body", 584, 165_888, 82_944),
    ]
    assert [(limit["figure"], limit["value"]) for limit in backbone["limits"]] == [("flops", 1_000_000)]
    assert backbone["over_budget"] is False
    assert stem["limits"] == []
    failing_cost = data["costs"][failing["cost"]]
    assert failing_cost["input_shapes"] == [[2, 3, 16, 16]]
    assert (failing_cost["flops"], failing_cost["total_flops"]) == (5_120, 10_240)


def test_conv_json_writes_the_baseline_format(pytester: pytest.Pytester) -> None:
    """--conv-json and --conv-save-baseline write one format, so a PR's JSON artifact can be the next baseline."""
    result = pytester.runpytest("--conv-json=run.json", "--conv-save-baseline=baseline.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["wrote run file run.json (2 measurements)", "wrote baseline baseline.json (2 measurements)"])
    run_bytes = (pytester.path / "run.json").read_bytes()
    assert run_bytes == (pytester.path / "baseline.json").read_bytes()
    loaded = load_run_file(pytester.path / "run.json")
    assert [entry.key for entry in loaded.entries] == [(BACKBONE_ID, "Sequential"), (STEM_ID, "stem")]


def test_xdist_baseline_is_byte_identical_to_a_serial_one(pytester: pytest.Pytester) -> None:
    """Two workers finishing in any order must save the very bytes a serial run saves: no timestamps, no mixing."""
    pytester.makepyfile(
        test_gate_widths="""
        import pytest
        import torch
        from torch import nn


        @pytest.mark.parametrize("width", [2, 4, 6, 8, 10, 12])
        def test_width(conv_cost, width):
            conv_cost(nn.Sequential(nn.Conv2d(3, width, 3), nn.Conv2d(width, 4, 1)), torch.randn(1, 3, 16, 16))
        """
    )
    serial = pytester.runpytest("--conv-save-baseline=serial.json")
    serial.assert_outcomes(passed=8)
    # A real process (xdist needs one); hypothesis's plugin is left out only to save it a second of start-up.
    parallel = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-n", "2", "--conv-save-baseline=parallel.json")
    parallel.assert_outcomes(passed=8)
    parallel.stdout.fnmatch_lines(["*2 workers*"])
    parallel.stdout.fnmatch_lines(["wrote baseline parallel.json (8 measurements)"])
    assert (pytester.path / "parallel.json").read_bytes() == (pytester.path / "serial.json").read_bytes()
    assert sorted(path.name for path in pytester.path.glob("*.json")) == ["parallel.json", "serial.json"]
    assert not list(pytester.path.glob(".*.tmp"))


# -- comparing -----------------------------------------------------------------


def test_no_change_reports_zero_changed(pytester: pytest.Pytester) -> None:
    """The everyday pull request that leaves the models alone: a quiet report and a green run."""
    save_baseline(pytester)
    result = compare(pytester)
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    section = conv_budget_section(result.outlines)
    assert section == ["compared with baseline baseline.json:", "conv budget: no change in 2 measurements"]
    assert result.stdout.lines[-1].strip("= ").startswith("2 passed in ")


def test_grown_model_shows_before_after_change_and_the_layer(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reviewer sees how much heavier the model got in each figure, and which layer did it."""
    save_baseline(pytester)
    monkeypatch.setenv(WIDTH, "16")
    result = compare(pytester)
    result.assert_outcomes(passed=2)
    assert result.ret == 0  # no max_increase configured: growth is reported, not gated
    section = conv_budget_section(result.outlines)
    assert section[0] == "compared with baseline baseline.json:"
    assert_lines_match(section[1:3], [
        row("test", "name", "params", "FLOPs", "MACs"),
        row(BACKBONE_ID, "Sequential", "808 -> 1.39 k (+72.3%)", "251 k -> 416 k (+66.2%)", "125 k -> 208 k (+66.2%)"),
    ])
    assert section[3:] == [
        f"  {BACKBONE_ID} [Sequential] layers: body grown (+100.0% FLOPs)",
        "conv budget: 1 of 2 measurements changed, 0 new, 0 removed; all within limits",
    ]


def test_shrunk_model_passes_and_says_the_baseline_is_stale(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrinking never fails a run, but a baseline that no longer describes the model must be refreshed."""
    save_baseline(pytester)
    monkeypatch.setenv(WIDTH, "4")
    result = compare(pytester, "--conv-max-increase=0")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    section = conv_budget_section(result.outlines)
    assert_lines_match(section[2:3], [
        row(BACKBONE_ID, "Sequential", "808 -> 516 (-36.1%)", "251 k -> 168 k (-33.1%)", "125 k -> 83.8 k (-33.1%)"),
    ])
    assert section[-4:] == [
        f"stale baseline: {BACKBONE_ID} [Sequential]: params fell 36.1%: {STALE_NOTE}",
        f"stale baseline: {BACKBONE_ID} [Sequential]: FLOPs fell 33.1%: {STALE_NOTE}",
        f"stale baseline: {BACKBONE_ID} [Sequential]: MACs fell 33.1%: {STALE_NOTE}",
        "conv budget: 1 of 2 measurements changed, 0 new, 0 removed; all within limits",
    ]
    assert not any(line.startswith("REGRESSION") for line in section)


def test_added_and_removed_measurements_are_listed(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A renamed measurement is one new and one gone: both are named, since neither can be compared."""
    save_baseline(pytester)
    monkeypatch.setenv(STEM_NAME, "stem_v2")
    result = compare(pytester)
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    assert conv_budget_section(result.outlines)[1:] == [
        f"new: {STEM_ID} [stem_v2] (5.12 k FLOPs)",
        f"removed: {STEM_ID} [stem] (in the baseline, not in this run)",
        "conv budget: 0 of 2 measurements changed, 1 new, 1 removed; all within limits",
    ]


# -- the max-increase gate -----------------------------------------------------

REGRESSION_AT_9 = (
    f"  {BACKBONE_ID} [Sequential]: params +9.0% (808 -> 881), FLOPs +8.3% (251 k -> 271 k), "
    "MACs +8.3% (125 k -> 136 k), more than the {allowed}% allowed; grew in body"
)


def test_growth_under_the_limit_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 9% growth under a 10% limit is reported and allowed ('10%' is accepted as well as '10')."""
    save_baseline(pytester)
    monkeypatch.setenv(WIDTH, "9")
    result = compare(pytester, "--conv-max-increase=10%")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    section = conv_budget_section(result.outlines)
    assert section[-1] == "conv budget: 1 of 2 measurements changed, 0 new, 0 removed; all within limits"
    assert not any("REGRESSION" in line for line in section)


def test_growth_over_the_limit_fails_the_session_without_a_traceback(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test passed, yet the session fails: CI reads the exit status, the reviewer reads what grew."""
    save_baseline(pytester)
    monkeypatch.setenv(WIDTH, "9")
    result = compare(pytester, "--conv-max-increase=5")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert conv_budget_section(result.outlines)[-3:] == [
        "REGRESSION: 1 measurement(s) grew more than allowed:",
        REGRESSION_AT_9.format(allowed=5),
        "conv budget: 1 of 2 measurements changed, 0 new, 0 removed; 1 grew past the allowed increase",
    ]
    assert_no_traceback(result.outlines + result.errlines)
    # The last line of the log, which is all many people read, must not look like a green run.
    assert re.fullmatch(r"=+ 2 passed, 1 conv budget regression in [\d.]+s =+", result.stdout.lines[-1])


@pytest.mark.parametrize(
    ("table", "args", "allowed"),
    [
        pytest.param("max_increase = 5\n", (), 5, id="table-wide"),
        pytest.param("max_increase = 50\n[tool.convbudget.budgets]\n\"*::test_backbone\" = { max_increase = 1 }\n",
                     (), 1, id="pattern-beats-table"),
        pytest.param("max_increase = 50\n[tool.convbudget.budgets]\n\"*::test_backbone\" = { max_increase = 1 }\n",
                     ("--conv-max-increase=20",), None, id="command-line-beats-pattern"),
        pytest.param("max_increase = \"8%\"\n", ("--conv-max-increase=12",), None, id="command-line-beats-table"),
    ],
)
def test_max_increase_from_pyproject_and_its_precedence(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, table: str, args: tuple[str, ...], allowed: int | None
) -> None:
    """The limit lives in pyproject.toml, tighter per pattern; the command line beats both for a one-off run."""
    save_baseline(pytester)
    write_pyproject(pytester, "[tool.convbudget]\n" + table)
    monkeypatch.setenv(WIDTH, "9")
    result = compare(pytester, *args)
    result.assert_outcomes(passed=2)
    section = conv_budget_section(result.outlines)
    if allowed is None:
        assert result.ret == 0
        assert not any("REGRESSION" in line for line in section)
    else:
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        assert section[-2] == REGRESSION_AT_9.format(allowed=allowed)


@pytest.mark.parametrize("value", ["five", "-3", "nan"])
def test_bad_max_increase_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    """A typo in the limit must stop CI at once, not silently disable the gate."""
    result = pytester.runpytest(f"--conv-max-increase={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = usage_error_lines(result)
    assert len(lines) == 1
    assert lines[0].startswith("ERROR: --conv-max-increase: ")
    assert repr(value) in lines[0]


# -- missing and bad baselines -------------------------------------------------


def test_missing_baseline_is_a_note_not_a_failure(pytester: pytest.Pytester) -> None:
    """The first run of a new project has no baseline yet: say so, compare nothing, pass."""
    result = pytester.runpytest("--conv-baseline=missing.json")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["no baseline at missing.json: nothing compared*--conv-require-baseline*"])
    assert not (pytester.path / "missing.json").exists()


@pytest.mark.parametrize(
    ("table", "args", "message"),
    [
        pytest.param("", ("--conv-baseline=missing.json", "--conv-require-baseline"),
                     "missing.json: baseline file not found, and a baseline is required", id="option"),
        pytest.param("require_baseline = true\n", ("--conv-baseline=missing.json",),
                     "missing.json: baseline file not found, and a baseline is required", id="pyproject"),
        pytest.param("", ("--conv-require-baseline",),
                     "--conv-require-baseline was given, but no --conv-baseline PATH to compare with",
                     id="option-without-a-baseline-path"),
    ],
)
def test_required_baseline_missing_stops_before_any_test(
    pytester: pytest.Pytester, table: str, args: tuple[str, ...], message: str
) -> None:
    """In CI a lost artifact must fail loudly instead of passing a PR that was never compared."""
    write_pyproject(pytester, "[tool.convbudget]\n" + table)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert usage_error_lines(result) == [f"ERROR: pytest-convbudget: {message}"]
    assert "passed" not in result.stdout.str()
    assert_no_traceback(result.outlines + result.errlines)


def test_required_baseline_does_not_block_saving_one(pytester: pytest.Pytester) -> None:
    """A project that requires a baseline still has to be able to make one: the baseline job compares nothing."""
    write_pyproject(pytester, "[tool.convbudget]\nrequire_baseline = true\n")
    result = pytester.runpytest("--conv-save-baseline=baseline.json")
    assert result.ret == 0
    assert (pytester.path / "baseline.json").exists()


def real_baseline_text() -> str:
    """A genuine run file, written by a session, to corrupt in the cases below."""
    from pytest_convbudget import profile
    from pytest_convbudget.budgets.measurement import Measurement
    from pytest_convbudget.ci.runfile import RunEntry, build_run_file

    cost = profile(torch.nn.Conv2d(3, 4, 1), torch.randn(1, 3, 16, 16), device="meta")
    entry = RunEntry(Measurement("test_gate_models.py::test_stem", "stem", 0, cost, "sample"), "passed")
    return build_run_file([entry], "auto").to_json()


def _edited(**changes: object) -> bytes:
    data = json.loads(real_baseline_text())
    data.update(changes)
    return json.dumps(data).encode()


BAD_BASELINES = [
    pytest.param(lambda: real_baseline_text().encode()[:300], "not valid JSON (truncated or corrupt?)", id="truncated"),
    pytest.param(lambda: b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary", "not UTF-8 text (byte 0)", id="corrupt-bytes"),
    pytest.param(lambda: b"", "empty file", id="empty"),
    pytest.param(lambda: b'{"test": "results", "passed": 3}\n', "not a pytest-convbudget run file", id="other-json"),
    pytest.param(lambda: b"[1, 2, 3]\n", "not a pytest-convbudget run file", id="json-list"),
    pytest.param(lambda: _edited(schema_version=SCHEMA_VERSION + 1), f"schema version {SCHEMA_VERSION + 1}", id="schema-version"),
    pytest.param(lambda: _edited(cost_model_version=0), "cost_model_version: ", id="cost-model-version"),
    pytest.param(lambda: _edited(measurements=[{"test_id": "x"}]), "measurements[0]: missing field 'name'", id="malformed-measurement"),
    pytest.param(lambda: _edited(environment=5), "environment: expected a table, got the number 5", id="environment-not-a-table"),
    pytest.param(lambda: _with_cost(flops="abc"), "costs[0].flops: expected a whole number, got a string 'abc'",
                 id="count-not-an-int"),
    pytest.param(lambda: _with_cost(params=True), "costs[0].params: expected a whole number, got true", id="count-is-a-bool"),
]


def _with_cost(**changes: object) -> bytes:
    """A run file whose one measurement has hand-edited cost fields."""
    data = json.loads(real_baseline_text())
    data["costs"][data["measurements"][0]["cost"]].update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(("content", "problem"), BAD_BASELINES)
def test_bad_baseline_is_one_line_naming_the_file_and_stays_untouched(
    pytester: pytest.Pytester, content: object, problem: str
) -> None:
    """A broken artifact stops the session before any test runs, in one line a CI log shows, and is kept for inspection."""
    pytester.makepyfile(test_gate_models="def test_runs():\n    open('ran', 'w').close()\n")
    original = content()  # type: ignore[operator]
    baseline = pytester.path / "baseline.json"
    baseline.write_bytes(original)
    result = pytester.runpytest("--conv-baseline=baseline.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = usage_error_lines(result)
    assert len(lines) == 1
    assert lines[0].startswith("ERROR: pytest-convbudget: baseline.json: ")
    assert problem in lines[0]
    assert_no_traceback(result.outlines + result.errlines)
    assert not (pytester.path / "ran").exists()
    assert baseline.read_bytes() == original


# -- atomic writes ---------------------------------------------------------------


def test_write_atomically_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    """The normal case: the new content in place, no temporary file beside it."""
    target = tmp_path / "baseline.json"
    target.write_text("old\n", encoding="utf-8")
    write_atomically(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert os.listdir(tmp_path) == ["baseline.json"]


@pytest.mark.parametrize("where", ["fsync", "replace"])
@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()], ids=["disk-full", "killed"])
def test_interrupted_save_keeps_the_old_baseline_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, error: BaseException
) -> None:
    """A full disk or a killed run mid-save must leave the old baseline byte for byte, and no temp file behind."""
    target = tmp_path / "baseline.json"
    old = b'{"old": "baseline"}\n'
    target.write_bytes(old)

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(os, where, fail)
    with pytest.raises(type(error)):
        write_atomically(target, '{"new": "baseline"}\n' * 1000)
    monkeypatch.undo()
    assert target.read_bytes() == old
    assert os.listdir(tmp_path) == ["baseline.json"]


def test_interrupted_first_save_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no baseline yet, a failed save must not leave a half file that the next run would trust."""
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_atomically(tmp_path / "ci" / "baseline.json", "{}\n")
    monkeypatch.undo()
    assert os.listdir(tmp_path / "ci") == []


# -- markdown ----------------------------------------------------------------------


def test_markdown_is_written_and_appended_to_the_step_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PR comment body goes to the named file, and the same text to the GitHub job summary after what is there."""
    save_baseline(pytester)
    summary = pytester.path / "step_summary.md"
    summary.write_text("## earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv(WIDTH, "16")
    result = compare(pytester, "--conv-markdown=comment/comment.md")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["wrote markdown comment/comment.md"])
    body = (pytester.path / "comment" / "comment.md").read_text(encoding="utf-8")
    lines = body.splitlines()
    assert lines[0] == COMMENT_MARKER
    assert lines[1] == "⚠️ **conv budget**: 1 of 2 measurements changed, 0 new, 0 removed; all within limits"
    assert f"| `{BACKBONE_ID}` | `Sequential` | 808 → 1.39 k (+72.3%) 🔺🔺🔺 |" in body
    assert summary.read_text(encoding="utf-8") == "## earlier step\n" + body + "\n"


def test_markdown_without_a_baseline_still_summarises_the_run(pytester: pytest.Pytester) -> None:
    """The very first PR (no baseline yet) still gets a comment saying what was measured."""
    result = pytester.runpytest("--conv-markdown=comment.md")
    result.assert_outcomes(passed=2)
    body = (pytester.path / "comment.md").read_text(encoding="utf-8")
    assert body.splitlines() == [
        COMMENT_MARKER,
        "ℹ️ **conv budget**: 2 measurements, 0 over budget; no baseline to compare with",
    ]


# -- runs that must not replace the baseline, and files that cannot be written --


@pytest.mark.parametrize(
    ("args", "source", "reason"),
    [
        (("--collect-only",), None, "--collect-only ran no test"),
        (("-x",), "def test_a(conv_cost):\n    assert False\n\ndef test_b(conv_cost):\n    pass\n",
         "stopped early after 1 of 2 measuring tests (stopping after 1 failures)"),
        ((), "def test_a(conv_cost):\n    raise KeyboardInterrupt\n", "interrupted after 0 of 1 measuring tests"),
    ],
    ids=["collect-only", "stopped-by-x", "interrupted"],
)
def test_an_incomplete_run_never_replaces_the_baseline(
    pytester: pytest.Pytester, args: tuple[str, ...], source: str | None, reason: str
) -> None:
    """A partial run's baseline would make every missing test look removed: the old file stays."""
    baseline = save_baseline(pytester)
    before = baseline.read_bytes()
    if source is not None:
        pytester.makepyfile(test_gate_models=source)
    result = pytester.runpytest("--conv-save-baseline=baseline.json", *args, no_reraise_ctrlc=True)
    result.stdout.fnmatch_lines([f"baseline not saved to baseline.json: {reason}*the old file is left as it was"])
    assert baseline.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ("--conv-json=a_file/run.json", "cannot write run file a_file/run.json: a_file is not a folder"),
        ("--conv-save-baseline=a_folder", "cannot write baseline a_folder: it is a folder"),
        ("--conv-markdown=/proc/comment.md", "cannot write markdown /proc/comment.md: "),
        ("--conv-html=a_file/deeper/page.html", "cannot write HTML report a_file/deeper/page.html: a_file is not a folder"),
    ],
    ids=["under-a-file", "a-folder", "unwritable-folder", "deep-under-a-file"],
)
def test_an_unwritable_output_is_refused_in_one_line_before_any_test_runs(
    pytester: pytest.Pytester, option: str, problem: str
) -> None:
    """A typo in an output path must not end in a traceback, nor cost the whole suite's time first."""
    (pytester.path / "a_file").write_text("not a folder")
    (pytester.path / "a_folder").mkdir()
    pytester.makepyfile(test_gate_models="def test_runs(conv_cost):\n    open('ran', 'w').close()\n")
    result = pytester.runpytest(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = usage_error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: pytest-convbudget: {problem}"), lines
    assert not (pytester.path / "ran").exists()
    assert_no_traceback(result.outlines + result.errlines)
    assert not list(pytester.path.rglob("*.tmp"))


def test_a_new_baseline_is_readable_like_any_file(pytester: pytest.Pytester) -> None:
    """mkstemp makes 0600 files; a baseline artifact must get the umask's usual mode."""
    baseline = save_baseline(pytester)
    umask = os.umask(0)
    os.umask(umask)
    assert baseline.stat().st_mode & 0o777 == 0o666 & ~umask
