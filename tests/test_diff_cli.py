"""``python -m pytest_convbudget diff BASE HEAD`` as a workflow step runs it: outputs, exit codes, errors.

A workflow that compares the JSON artifacts of two jobs reads the printed
comparison and, above all, the exit status: 0 for "fine", 1 for "grew past
--max-increase", 2 for "could not compare". The run files are written from
real profiles of tiny models; their costs are counted by hand below.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from pytest_convbudget import profile
from pytest_convbudget.cli.diff import EXIT_REGRESSION, EXIT_USAGE, console_main
from pytest_convbudget.render.markdown import COMMENT_MARKER
from pytest_convbudget.budgets.measurement import Measurement
from pytest_convbudget.ci.runfile import RunEntry, build_run_file

# ``model(W)``: Sequential(stem=Conv2d(3, 8, 3), body=Conv2d(8, W, 3)) with bias on 1x3x16x16
#   W = 8:  params 808,   FLOPs 250,560, MACs 125,280 (stem 224 / 84,672; body 584 / 165,888)
#   W = 16: params 1,392 (+72.3%), FLOPs 416,448 (+66.2%), MACs 208,224 (+66.2%); only "body" changed
# ``Conv2d(3, 2, 1)`` (the new "fresh"): FLOPs 2*3*2*256 = 3,072
GROWN = "tests/test_models.py::test_model"
ROW_CELLS = ("808 -> 1.39 k (+72.3%)", "251 k -> 416 k (+66.2%)", "125 k -> 208 k (+66.2%)")
TEXT_TAIL = [
    f"  {GROWN} [Sequential] layers: body grown (+100.0% FLOPs)",
    "new: tests/test_models.py::test_new [fresh] (3.07 k FLOPs)",
    "removed: tests/test_models.py::test_gone [old] (in the baseline, not in this run)",
    "conv budget: 1 of 3 measurements changed, 1 new, 1 removed; all within limits",
]


def model(width: int) -> nn.Module:
    return nn.Sequential(OrderedDict(stem=nn.Conv2d(3, 8, 3), body=nn.Conv2d(8, width, 3)))


def entry(test_id: str, name: str, module: nn.Module) -> RunEntry:
    cost = profile(module, torch.randn(1, 3, 16, 16), device="meta")
    return RunEntry(Measurement(test_id=test_id, name=name, index=0, cost=cost, per="sample"), "passed")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with base.json (main's job) and head.json (the PR's job), as a workflow downloads them."""
    folder = tmp_path_factory.mktemp("artifacts")
    stem = entry("tests/test_models.py::test_stem", "stem", nn.Conv2d(3, 4, 1, bias=False))
    base = [entry(GROWN, "Sequential", model(8)), stem, entry("tests/test_models.py::test_gone", "old", nn.Conv2d(3, 3, 1))]
    head = [entry(GROWN, "Sequential", model(16)), stem, entry("tests/test_models.py::test_new", "fresh", nn.Conv2d(3, 2, 1))]
    (folder / "base.json").write_text(build_run_file(base, "auto").to_json(), encoding="utf-8")
    (folder / "head.json").write_text(build_run_file(head, "auto").to_json(), encoding="utf-8")
    (folder / "broken.json").write_text('{"schema": "pytest-convbudget/run", "measure', encoding="utf-8")
    return folder


def diff(folder: Path, *args: str, encoding: str = "utf-8") -> subprocess.CompletedProcess[str]:
    """The command a workflow step runs, in the artifacts folder."""
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    return subprocess.run(
        [sys.executable, "-m", "pytest_convbudget", "diff", *args],
        cwd=folder, env=env, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=60,
    )


def table_row(*cells: str) -> str:
    return r"\s+".join(re.escape(cell) for cell in cells) + r"\s*$"


def test_text_is_the_plugins_comparison(artifacts: Path) -> None:
    """The same before/after/change report the pytest run prints, with exit 0 when no limit is given."""
    done = diff(artifacts, "base.json", "head.json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "compared with baseline base.json:"
    assert re.match(table_row("test", "name", "params", "FLOPs", "MACs"), lines[1])
    assert re.match(table_row(GROWN, "Sequential", *ROW_CELLS), lines[2])
    assert lines[3:] == TEXT_TAIL


def test_markdown_is_the_pr_comment(artifacts: Path) -> None:
    """--format markdown prints the sticky comment body, marker first, ready for `gh api -F body=@-`."""
    done = diff(artifacts, "base.json", "head.json", "--format", "markdown")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == [
        COMMENT_MARKER,
        "⚠️ **conv budget**: 1 of 3 measurements changed, 1 new, 1 removed; all within limits",
        "",
        "| test | model | params | FLOPs | MACs |",
        "| --- | --- | --- | --- | --- |",
    ]
    assert lines[5] == (
        f"| `{GROWN}` | `Sequential` | 808 → 1.39 k (+72.3%) 🔺🔺🔺 | "
        "251 k → 416 k (+66.2%) 🔺🔺🔺 | 125 k → 208 k (+66.2%) 🔺🔺🔺 |"
    )
    assert "| `body` | grown | 166 k → 332 k (+100.0%) 🔺🔺🔺 | 584 → 1.17 k (+100.0%) 🔺🔺🔺 |" in lines


def test_json_holds_exact_figures_and_the_regressions(artifacts: Path) -> None:
    """--format json is for scripts: every finding an object of exact integers, percentages and limits, no
    sentence to parse; past --max-increase the regressions, and exit 1."""
    done = diff(artifacts, "base.json", "head.json", "--format", "json", "--max-increase", "50")
    assert done.returncode == EXIT_REGRESSION == 1
    data = json.loads(done.stdout)
    growth = [
        {"figure": "params", "before": 808, "after": 1_392, "delta": 584, "percent": 72.2772},
        {"figure": "flops", "before": 250_560, "after": 416_448, "delta": 165_888, "percent": 66.2069},
        {"figure": "macs", "before": 125_280, "after": 208_224, "delta": 82_944, "percent": 66.2069},
    ]
    (changed,) = data["changed"]
    assert (changed["test_id"], changed["name"], changed["per"]) == (GROWN, "Sequential", "sample")
    assert changed["figures"] == growth
    assert changed["layers"] == [{"name": "body", "status": "grown",  # Conv2d(8, 8, 3) -> Conv2d(8, 16, 3)
                                  "before": {"params": 584, "flops": 165_888, "macs": 82_944},
                                  "after": {"params": 1_168, "flops": 331_776, "macs": 165_888}}]
    assert (changed["count"], changed["flops_by_kind"]) == (["conv"], {"conv": {"before": 250_560, "after": 416_448}})
    assert data["unchanged"] == 1
    # Conv2d(3, 2, 1) and Conv2d(3, 3, 1), both with bias, on 3x16x16
    assert data["added"] == [{"test_id": "tests/test_models.py::test_new", "name": "fresh", "per": "sample",
                              "count": ["conv"], "figures": {"params": 8, "flops": 3_072, "macs": 1_536,
                                                             # 8 float32 weights; its 2x16x16 float32 output
                                                             "model_params": 8, "weights": 32, "activations": 2_048}}]
    assert data["removed"] == [{"test_id": "tests/test_models.py::test_gone", "name": "old", "per": "sample",
                                "count": ["conv"], "figures": {"params": 12, "flops": 4_608, "macs": 2_304,
                                                               "model_params": 12, "weights": 48, "activations": 3_072}}]
    assert (data["not_run"], data["mismatched"]) == ([], [])
    assert data["regressions"] == [
        {"test_id": GROWN, "name": "Sequential", "per": "sample", "allowed_percent": 50, "figures": growth,
         "grown_layers": ["body"]}
    ]


def test_json_names_its_schema_and_its_baseline(artifacts: Path) -> None:
    done = diff(artifacts, "base.json", "head.json", "--format", "json")
    data = json.loads(done.stdout)
    assert (data["schema"], data["schema_version"]) == ("pytest-convbudget/comparison", 2)
    commit = json.loads((artifacts / "base.json").read_text(encoding="utf-8"))["environment"].get("commit")
    assert data["baseline"] == {"label": "base.json", "commit": commit}
    assert data["enforcement"] == "fail"


def test_json_holds_no_sentence_but_the_headline(artifacts: Path) -> None:
    """Prose lives in the renderers: every string of the JSON is a name, a word of the package's vocabulary,
    or the one headline; never a phrase with a figure written out."""
    done = diff(artifacts, "base.json", "head.json", "--format", "json", "--max-increase", "50")
    data = json.loads(done.stdout)
    strings: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk({key: value for key, value in data.items() if key != "headline"})
    assert not [text for text in strings if "%" in text or "->" in text or " " in text]


def test_max_increase_gates_the_exit_status(
    artifacts: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 1 past the limit with the REGRESSION lines; exit 0 under it. Through console_main, the console script's entry."""
    monkeypatch.chdir(artifacts)
    assert console_main(["base.json", "head.json", "--max-increase", "80%"]) == 0
    assert "REGRESSION" not in capsys.readouterr().out
    assert console_main(["base.json", "head.json", "--max-increase", "72"]) == EXIT_REGRESSION
    out = capsys.readouterr().out.splitlines()
    assert out[-3:] == [
        "REGRESSION: 1 measurement(s) grew more than allowed:",
        f"  {GROWN} [Sequential]: params +72.3% (808 -> 1.39 k), more than the 72% allowed; grew in body",
        "conv budget: 1 of 3 measurements changed, 1 new, 1 removed; 1 grew past the allowed increase",
    ]


def test_missing_file_is_one_error_line_and_exit_2(artifacts: Path) -> None:
    """A lost artifact: exit 2, which a workflow tells apart from a regression, and one line naming the file."""
    done = diff(artifacts, "missing.json", "head.json")
    assert done.returncode == EXIT_USAGE == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == ["convbudget diff: error: missing.json: baseline file not found"]


@pytest.mark.parametrize(("base", "head"), [("broken.json", "head.json"), ("base.json", "broken.json")])
def test_corrupt_file_is_one_error_line_and_exit_2(
    artifacts: Path, capsys: pytest.CaptureFixture[str], base: str, head: str
) -> None:
    """A truncated upload on either side is named in one line; nothing is printed as if compared."""
    assert console_main([str(artifacts / base), str(artifacts / head)]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"convbudget diff: error: {artifacts / 'broken.json'}: not valid JSON (truncated or corrupt?)")


def test_missing_head_file_is_not_called_a_baseline(artifacts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The error must point at the right artifact: the head run, not the baseline, went missing."""
    assert console_main([str(artifacts / "base.json"), str(artifacts / "head-missing.json")]) == EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert "head-missing.json" in line
    assert "baseline" not in line


def test_run_file_with_a_bad_environment_is_an_error_line(artifacts: Path) -> None:
    """Any malformed run file must read as one error line, never a traceback that exits like a regression."""
    data = json.loads((artifacts / "head.json").read_text(encoding="utf-8"))
    data["environment"] = 5
    (artifacts / "odd-environment.json").write_text(json.dumps(data), encoding="utf-8")
    done = diff(artifacts, "base.json", "odd-environment.json")
    assert "Traceback" not in done.stderr
    assert done.returncode == EXIT_USAGE


def test_markdown_survives_a_non_utf8_stdout(artifacts: Path) -> None:
    """`diff --format markdown > comment.md` on a Windows runner must still write the comment."""
    done = diff(artifacts, "base.json", "head.json", "--format", "markdown", encoding="cp1252")
    assert "Traceback" not in done.stderr
    assert done.returncode == 0


@pytest.mark.parametrize("value", ["five", "-1"])
def test_bad_max_increase_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in the limit must not silently disable the gate: argparse stops with status 2 and says why."""
    with pytest.raises(SystemExit) as stopped:
        console_main(["base.json", "head.json", "--max-increase", value])
    assert stopped.value.code == EXIT_USAGE
    assert "--max-increase" in capsys.readouterr().err


def test_console_script_is_installed_and_prints_the_same(artifacts: Path) -> None:
    """`convbudget-diff` is what pip puts on PATH; it must be the same command as `python -m pytest_convbudget diff`."""
    script = Path(sys.executable).parent / ("convbudget-diff.exe" if os.name == "nt" else "convbudget-diff")
    if not script.exists():
        pytest.skip(f"{script} is not installed in this environment")
    done = subprocess.run(
        [str(script), "base.json", "head.json"], cwd=artifacts, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[3:] == TEXT_TAIL


def test_a_new_format_is_one_registry_entry(
    artifacts: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """diff --format offers whatever RENDERERS holds: an HTML renderer (or any other) plugs in with one entry."""
    from pytest_convbudget.render.phrases import headline
    from pytest_convbudget.render.outputs import OUTPUTS as RENDERERS

    monkeypatch.setitem(RENDERERS, "shout", lambda report: headline(report).upper() + "\n")
    monkeypatch.chdir(artifacts)
    assert console_main(["base.json", "head.json", "--format", "shout"]) == 0
    assert capsys.readouterr().out == "1 OF 3 MEASUREMENTS CHANGED, 1 NEW, 1 REMOVED; ALL WITHIN LIMITS\n"


def test_json_carries_the_verdict_every_format_shares(artifacts: Path) -> None:
    done = diff(artifacts, "base.json", "head.json", "--format", "json", "--max-increase", "50")
    data = json.loads(done.stdout)
    assert (data["status"], data["failed"]) == ("failed", True)
    assert data["headline"] == "1 of 3 measurements changed, 1 new, 1 removed; 1 grew past the allowed increase"
    assert data["counts"] == {
        "measurements": 3, "changed": 1, "unchanged": 1, "added": 1, "removed": 1, "over_budget": 0, "regressions": 1,
        "mismatched": 0,
        "not_run": 0,
    }
    assert data["over_budget"] == []


@pytest.mark.parametrize(
    ("files", "start", "expected"),
    [
        pytest.param({"pyproject.toml": "[tool.pytest.ini_options]\n"}, "a/b", "pyproject.toml", id="pytest-table-above"),
        pytest.param({"pyproject.toml": "[tool.convbudget]\n", "a/pyproject.toml": "[project]\nname = 'x'\n"},
                     "a/b", "a/pyproject.toml", id="nearest-pyproject-without-pytest-config"),
        pytest.param({"pyproject.toml": "[tool.convbudget]\n", "a/pytest.ini": "[pytest]\n"}, "a", None,
                     id="pytest-ini-is-the-config-and-its-folder-has-no-pyproject"),
        pytest.param({"pyproject.toml": "[tool.convbudget]\n", "a/tox.ini": "[tox]\n", "a/pyproject.toml": "[tool.x]\n"},
                     "a", "a/pyproject.toml", id="tox-ini-without-pytest-section-is-skipped"),
        pytest.param({"pytest.ini": "[pytest]\n", "pyproject.toml": "[tool.convbudget]\n",
                      "a/pyproject.toml": "[project]\nname = 'x'\n"}, "a", "pyproject.toml",
                     id="pytest-ini-above-wins-over-a-nearer-plain-pyproject"),
    ],
)
def test_diff_finds_the_table_the_plugin_would_read(
    tmp_path: Path, files: dict[str, str], start: str, expected: str | None
) -> None:
    """pytest's rule: the first folder up with a pytest config file is the rootdir, else the nearest
    pyproject.toml; the plugin then reads the config file if it is a pyproject.toml, else the rootdir's."""
    from pytest_convbudget.budgets.pyproject import find_pyproject_from

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / start).mkdir(parents=True, exist_ok=True)
    found = find_pyproject_from(tmp_path / start)
    assert found == (None if expected is None else tmp_path / expected)


def test_html_is_the_report_as_one_page(artifacts: Path) -> None:
    """--format html draws the same report as a page: its verdict, its regressions, and the exit status of the others."""
    import html

    from pytest_convbudget.render.outputs import OUTPUTS as RENDERERS

    assert "html" in RENDERERS
    done = diff(artifacts, "base.json", "head.json", "--format", "html", "--max-increase", "50")
    assert done.returncode == EXIT_REGRESSION, done.stderr
    page = done.stdout
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<strong>1 of 3 measurements changed, 1 new, 1 removed; 1 grew past the allowed increase</strong>" in page
    assert "(baseline: <code>base.json</code>)" in page
    assert html.escape(f"{GROWN} [Sequential]: params +72.3% (808 -> 1.39 k)", quote=False) in page
    assert "<code>tests/test_models.py::test_gone</code> [old]" in page  # removed since the baseline


def test_html_without_jinja2_is_one_error_line_saying_what_to_install(
    artifacts: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No page and no traceback: exit 2 (not a regression) and the install hint."""
    monkeypatch.setitem(sys.modules, "jinja2", None)  # makes `import jinja2` fail
    code = console_main([str(artifacts / "base.json"), str(artifacts / "head.json"), "--format", "html"])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "convbudget diff: error: the HTML report needs Jinja2: pip install 'pytest-convbudget[html]'"]
