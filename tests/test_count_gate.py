"""Counting more kinds, as a user meets it in the report and the CI gate.

A team saves a baseline of a hybrid model with the default ``count`` (its conv
stem only), then turns on ``count = "all"``. The figures now mean something
else: the baseline is refused for that measurement with one line, never
compared, and the run fails saying so on its last line and in the comment.
Costs are counted by hand below.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from plugin_helpers import conv_budget_section, preloaded  # noqa: F401  (preloaded: a fixture)

# Hybrid(): Conv2d(3, 8, 4, stride=4) patch stem on 1x3x16x16 -> 8x4x4 = 16 tokens of width 8,
# then Linear(8, 8) on the (1, 16, 8) tokens, then q @ k^T of the tokens with themselves.
#   conv: params 3*16*8 + 8 = 392; MACs 48*8*16 = 6,144; FLOPs 2*6,144 = 12,288
#   linear: params 72; MACs 8*8*16 = 1,024; FLOPs 2*1,024 = 2,048
#   matmul (1,16,8) @ (1,8,16): MACs 16*16*8 = 2,048; FLOPs (2*8 - 1)*256 = 3,840
CONV_FLOPS, LINEAR_FLOPS, MATMUL_FLOPS = 12_288, 2_048, 3_840
ALL_FLOPS = CONV_FLOPS + LINEAR_FLOPS + MATMUL_FLOPS

TESTS = """
import torch
from torch import nn


class Hybrid(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 4, stride=4)
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        tokens = self.proj(self.stem(x).flatten(2).transpose(1, 2))
        return tokens @ tokens.transpose(1, 2)


def test_hybrid(conv_cost):
    conv_cost(Hybrid(), torch.randn(1, 3, 16, 16))
"""


def pyproject(count: str) -> str:
    return textwrap.dedent(f"""\
        [tool.pytest.ini_options]

        [tool.convbudget]
        count = {count}
        max_increase = 5
        """)


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, preloaded: None) -> None:
    pytester.makepyfile(test_hybrid=TESTS)


def test_the_report_says_what_was_counted_with_flops_by_kind(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(pyproject('"all"'))
    result = pytester.runpytest("--conv-report")
    result.assert_outcomes(passed=1)
    section = conv_budget_section(result.stdout.lines)
    assert (
        "test_hybrid.py::test_hybrid [Hybrid]: counted conv, linear, matmul, attention and functional_conv "
        "(FLOPs by kind: conv 12.3 k, linear 2.05 k, matmul 3.84 k, attention 0, functional_conv 0)"
    ) in section


def test_the_default_report_lists_the_ops_it_left_out(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(pyproject('"conv"'))
    result = pytester.runpytest("--conv-report")
    section = conv_budget_section(result.stdout.lines)
    assert (
        "test_hybrid.py::test_hybrid [Hybrid]: not in the totals (count = conv): "
        "1 linear op(s) (linear; 2,048 (2.05 k) FLOPs for the batch); "
        "1 matmul op(s) (matmul; 3,840 (3.84 k) FLOPs for the batch)"
    ) in section


def test_a_baseline_counted_with_other_kinds_is_refused_not_compared(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(pyproject('"conv"'))
    pytester.runpytest("--conv-save-baseline", "base.json").assert_outcomes(passed=1)
    saved = json.loads((pytester.path / "base.json").read_text())
    cost = saved["costs"][saved["measurements"][0]["cost"]]
    assert cost["count"] == ["conv"]
    assert cost["flops"] == CONV_FLOPS

    pytester.makepyprojecttoml(pyproject('"all"'))
    result = pytester.runpytest("--conv-baseline", "base.json", "--conv-json", "head.json", "--conv-markdown", "pr.md")
    assert result.ret == 1
    refusal = (
        "test_hybrid.py::test_hybrid [Hybrid]: not compared: the baseline counted conv, this run counts "
        "conv, linear, matmul, attention and functional_conv; save the baseline again to compare these figures"
    )
    section = conv_budget_section(result.stdout.lines)
    assert f"  {refusal}" in section
    assert "conv budget: 0 of 1 measurements changed, 0 new, 0 removed; 1 counted with other kinds than the baseline" in section
    assert not any("+" in line and "%" in line for line in section)  # no growth was computed
    assert result.stdout.lines[-1].startswith("=")
    assert "1 passed, 1 conv budget baseline mismatch in " in result.stdout.lines[-1]
    comment = (pytester.path / "pr.md").read_text()
    assert "**Not compared: counted with other kinds than the baseline (1):**" in comment
    assert f"- {refusal}" in comment
    assert comment.splitlines()[1].startswith("❌ **conv budget**: ")

    # diff on the same two files gives the same verdict and exit status
    done = subprocess.run(
        [sys.executable, "-m", "pytest_convbudget", "diff", "base.json", "head.json", "--format", "json"],
        cwd=pytester.path, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["failed"] is True
    assert report["mismatched"] == [{"test_id": "test_hybrid.py::test_hybrid", "name": "Hybrid", "baseline_count": ["conv"],
                                     "count": ["conv", "linear", "matmul", "attention", "functional_conv"]}]


def test_the_same_kinds_compare_as_before(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(pyproject('"all"'))
    pytester.runpytest("--conv-save-baseline", "base.json").assert_outcomes(passed=1)
    result = pytester.runpytest("--conv-baseline", "base.json")
    assert result.ret == 0
    assert "conv budget: no change in 1 measurement" in conv_budget_section(result.stdout.lines)
    saved = json.loads((pytester.path / "base.json").read_text())
    assert saved["costs"][saved["measurements"][0]["cost"]]["flops"] == ALL_FLOPS


def test_a_changed_measurement_counted_with_all_kinds_says_which_kind_grew(pytester: pytest.Pytester) -> None:
    """Same kinds on both sides, the linear widened: the terminal, the comment and the JSON say
    what was counted and each kind's FLOPs before and after, so the reviewer sees the linear grew."""
    pytester.makepyprojecttoml(pyproject('"all"'))
    pytester.runpytest("--conv-save-baseline", "base.json").assert_outcomes(passed=1)
    # proj: Linear(8, 8) -> Linear(8, 16): linear MACs 1,024 -> 2,048 (FLOPs 2,048 -> 4,096);
    # the matmul then contracts 16 features: MACs 16*16*16 = 4,096, FLOPs (2*16 - 1)*256 = 7,936
    pytester.makepyfile(test_hybrid=TESTS.replace("nn.Linear(8, 8)", "nn.Linear(8, 16)"))
    result = pytester.runpytest("--conv-baseline", "base.json", "--conv-json", "head.json", "--conv-markdown", "pr.md")
    kinds = "conv, linear, matmul, attention and functional_conv"
    section = conv_budget_section(result.stdout.lines)
    assert (
        f"  test_hybrid.py::test_hybrid [Hybrid] counted {kinds} (FLOPs by kind: conv 12.3 k -> 12.3 k, "
        "linear 2.05 k -> 4.10 k, matmul 3.84 k -> 7.94 k, attention 0 -> 0, functional_conv 0 -> 0)"
    ) in section
    comment = (pytester.path / "pr.md").read_text().splitlines()
    assert (
        f"Counted {kinds} (FLOPs by kind: conv 12.3 k → 12.3 k, linear 2.05 k → 4.10 k, "
        "matmul 3.84 k → 7.94 k, attention 0 → 0, functional_conv 0 → 0)."
    ) in comment
    done = subprocess.run(
        [sys.executable, "-m", "pytest_convbudget", "diff", "base.json", "head.json", "--format", "json"],
        cwd=pytester.path, capture_output=True, text=True, check=False,
    )
    (changed,) = json.loads(done.stdout)["changed"]
    assert changed["flops_by_kind"]["linear"] == {"before": 2_048, "after": 4_096}
    assert changed["flops_by_kind"]["matmul"] == {"before": 3_840, "after": 7_936}
