"""A baseline made under another torch, Python, pytest-convbudget or cost model is named on the
verdict line of every output: a figure that moved for that reason must not read as the model's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from plugin_helpers import conv_budget_section, preloaded  # noqa: F401  (preloaded: a fixture)

SUITE = "import torch\n\ndef test_stem(conv_cost):\n    conv_cost(torch.nn.Conv2d(3, 4, 1), torch.randn(1, 3, 8, 8))\n"
NOTE = "some figures may differ for that reason"


@pytest.fixture
def runs(pytester: pytest.Pytester, preloaded: None) -> Path:
    """A baseline and a head of the same suite; the baseline's versions edited to an older machine's."""
    pytester.makepyfile(test_stem=SUITE)
    pytester.runpytest("--conv-save-baseline=base.json", "--conv-run-file=head.json").assert_outcomes(passed=1)
    _edit(pytester.path / "base.json", torch="2.1.0", python="3.10.12")
    _edit(pytester.path / "head.json", torch="2.13.0", python="3.11.7")
    return pytester.path


def _edit(path: Path, **versions: str) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data["environment"].update(versions)
    path.write_text(json.dumps(data), encoding="utf-8")


def _diff(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("CI", "BUILD_NUMBER")}
    return subprocess.run([sys.executable, "-m", "pytest_convbudget", "diff", "base.json", "head.json", *args],
                          cwd=where, capture_output=True, text=True, env=environment, check=False, timeout=120)


def test_every_format_names_the_versions_the_baseline_does_not_share(runs: Path) -> None:
    drift = f"baseline from torch 2.1.0 and Python 3.10.12, this run from torch 2.13.0 and Python 3.11.7: {NOTE}"
    text = _diff(runs)
    assert text.returncode == 0
    assert text.stdout.splitlines()[-1] == f"conv budget: no change in 1 measurement; {drift}"
    comment = _diff(runs, "--format", "markdown").stdout.splitlines()
    assert comment[1] == f"✅ **conv budget**: no change in 1 measurement; {drift}"
    data = json.loads(_diff(runs, "--format", "json").stdout)
    assert data["headline"] == f"no change in 1 measurement; {drift}"
    assert data["drift"] == [{"what": "torch", "baseline": "2.1.0", "run": "2.13.0"},
                             {"what": "python", "baseline": "3.10.12", "run": "3.11.7"}]
    assert drift in _diff(runs, "--format", "html").stdout


def test_one_version_apart_and_a_cost_model_apart_read_as_one_clause(runs: Path) -> None:
    _edit(runs / "base.json", python="3.11.7")
    assert _diff(runs).stdout.splitlines()[-1].endswith(f"; baseline from torch 2.1.0, this run 2.13.0: {NOTE}")
    data = json.loads((runs / "base.json").read_text(encoding="utf-8"))
    data["environment"]["torch"] = "2.13.0"
    data["cost_model_version"] = 2  # a baseline of a later release: read, and named
    (runs / "base.json").write_text(json.dumps(data), encoding="utf-8")
    assert _diff(runs).stdout.splitlines()[-1].endswith(f"; baseline from cost model 2, this run 1: {NOTE}")


def test_same_versions_say_nothing_and_unrecorded_ones_are_not_compared(runs: Path) -> None:
    _edit(runs / "base.json", torch="2.13.0", python="3.11.7")
    assert _diff(runs).stdout.splitlines()[-1] == "conv budget: no change in 1 measurement"
    data = json.loads((runs / "base.json").read_text(encoding="utf-8"))
    data["environment"] = {}  # a file that recorded no versions
    (runs / "base.json").write_text(json.dumps(data), encoding="utf-8")
    assert _diff(runs).stdout.splitlines()[-1] == "conv budget: no change in 1 measurement"


def test_the_plugin_names_it_on_its_verdict_line(pytester: pytest.Pytester, preloaded: None) -> None:
    pytester.makepyfile(test_stem=SUITE)
    pytester.runpytest("--conv-save-baseline=base.json").assert_outcomes(passed=1)
    _edit(pytester.path / "base.json", torch="2.1.0")
    result = pytester.runpytest("--conv-baseline=base.json")
    assert conv_budget_section(result.stdout.lines)[-1] == (
        f"conv budget: no change in 1 measurement; baseline from torch 2.1.0, this run {metadata.version('torch')}: {NOTE}")
