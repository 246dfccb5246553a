"""A baseline saved by version 0.1 keeps its meaning after ``count`` replaced ``include_linear``.

``data/run-0.1.json`` was written by pytest-convbudget 0.1 (commit b8a4047) with
``--conv-save-baseline`` on the two tests below: one with ``include_linear=True``,
one with the default. Its layers use 0.1's kind names (``transposed``) and its
costs an ``include_linear`` flag. Loaded today, they read as ``count`` and the
same run compares unchanged: no mismatch, no regression.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plugin_helpers import conv_budget_section, preloaded  # noqa: F401  (preloaded: a fixture)
from pytest_convbudget.ci.runfile import load_run_file

OLD_RUN = Path(__file__).parent / "data" / "run-0.1.json"

TESTS = """
import torch
from torch import nn


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(4, 2, 2, stride=2), nn.Flatten(), nn.Linear(2 * 12 * 12, 5))


def test_with_linear(conv_cost):
    conv_cost(model(), torch.randn(1, 3, 8, 8), count=["conv", "linear"])


def test_default(conv_cost):
    conv_cost(model(), torch.randn(1, 3, 8, 8))
"""


def test_an_old_run_file_reads_as_count() -> None:
    with_linear, default = (entry.measurement.cost for entry in load_run_file(OLD_RUN, "baseline file").entries)
    assert with_linear.count == ("conv", "linear")
    assert [layer.kind for layer in with_linear.layers] == ["conv", "conv", "linear"]
    assert default.count == ("conv",)
    assert [layer.kind for layer in default.layers] == ["conv", "conv"]


def test_the_same_tests_today_compare_unchanged_with_it(pytester: pytest.Pytester, preloaded: None) -> None:
    pytester.makepyfile(test_old=TESTS)
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    shutil.copy(OLD_RUN, pytester.path / "base.json")
    result = pytester.runpytest("--conv-baseline", "base.json")
    assert result.ret == 0
    section = conv_budget_section(result.stdout.lines)
    assert section[-1] == "conv budget: no change in 2 measurements"


# -- version 1 of the layout: every measurement with its cost inline -------------------------------

VERSION_1 = Path(__file__).parent / "data" / "run-v1.json"  # the examples' baseline, as version 1 wrote it
OUTPUTS = Path(__file__).parent / "data" / "examples_outputs"


def test_a_version_1_file_reads_as_the_run_its_version_2_twin_holds() -> None:
    import json

    old, new = load_run_file(VERSION_1), load_run_file(OUTPUTS / "baseline.json")
    assert json.loads(VERSION_1.read_text(encoding="utf-8"))["schema_version"] == 1
    assert old == new
    assert old.to_json() == (OUTPUTS / "baseline.json").read_text(encoding="utf-8")  # saved again: version 2


def test_diff_reads_a_version_1_baseline_as_it_reads_its_version_2_twin(tmp_path: Path) -> None:
    import subprocess
    import sys

    shutil.copy(VERSION_1, tmp_path / "baseline.json")  # the name the examples' outputs show
    shutil.copy(OUTPUTS / "branch-run.json", tmp_path / "branch-run.json")
    done = subprocess.run([sys.executable, "-m", "pytest_convbudget", "diff", "baseline.json", "branch-run.json"],
                          cwd=tmp_path, capture_output=True, text=True, encoding="utf-8", check=False)
    expected = (OUTPUTS / "diff-text.txt").read_text(encoding="utf-8")
    assert f"exit status {done.returncode}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}" == expected


def test_a_script_reads_the_measurements_of_either_version_as_version_1_wrote_them() -> None:
    import json

    from pytest_convbudget.ci.runfile import measurement_tables

    old = json.loads(VERSION_1.read_text(encoding="utf-8"))
    new = json.loads((OUTPUTS / "baseline.json").read_text(encoding="utf-8"))
    assert measurement_tables(new) == measurement_tables(old) == old["measurements"]
