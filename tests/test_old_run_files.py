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
