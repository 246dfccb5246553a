"""A suite run in shards: each says "not run here" for what another shard ran, and the shards merge into one run.

A team's suite of models runs as a CI matrix (pytest-split, ``-k``, node ids).
Each shard is gated against the whole baseline, so it must tell the
measurements it could not have made (their tests ran elsewhere) from the ones
that went (their test ran, or the whole suite was collected, and they were
not there). Merged, the shards' run files are the run file one whole run
writes, byte for byte; ``diff`` reads it exactly as it reads that run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugin_helpers import conv_budget_section, preloaded, usage_error_lines  # noqa: F401  (preloaded: a fixture)
from pytest_convbudget.ci.coverage import Coverage, join_coverages
from pytest_convbudget.ci.runfile import load_run_file

MODELS = """
import os

import pytest
import torch
from torch import nn


def net(width):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.Conv2d(width, 4, 3))


@pytest.mark.parametrize("width", [4, 8])
def test_family_a(conv_cost, width):
    conv_cost(net(width), torch.randn(1, 3, 16, 16))


def test_family_b(conv_cost):
    conv_cost(net(int(os.environ.get("WIDTH_B", "6"))), torch.randn(1, 3, 16, 16), name="b")
    if not os.environ.get("DROP_B2"):
        conv_cost(net(2), torch.randn(1, 3, 16, 16), name="b2")


@pytest.mark.budget(flops="10M")
def test_family_c(conv_cost):
    conv_cost(net(5), torch.randn(1, 3, 16, 16))


def test_not_measuring():
    assert True
"""
ALL = ["test_models.py::test_family_a[4]", "test_models.py::test_family_a[8]", "test_models.py::test_family_b",
       "test_models.py::test_family_c"]


@pytest.fixture
def suite(pytester: pytest.Pytester, preloaded: None) -> pytest.Pytester:
    pytester.makepyfile(test_models=MODELS)
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    result = pytester.runpytest("--conv-save-baseline=base.json")
    result.assert_outcomes(passed=5)
    return pytester


def cli(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("CI", "BUILD_NUMBER")}
    return subprocess.run([sys.executable, "-m", "pytest_convbudget", *args], cwd=pytester.path,
                          capture_output=True, text=True, check=False, env=environment)


def test_a_deselecting_shard_says_not_run_here_never_removed(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-k", "family_a", "--conv-baseline=base.json", "--conv-markdown=c.md",
                             "--conv-run-file=shard.json")
    assert result.ret == 0
    section = conv_budget_section(result.stdout.lines)
    assert "not run here: 3 measurement(s) of the baseline, whose tests this run did not run (another shard's, " \
           "or deselected); not compared" in section
    assert "conv budget: no change in 2 measurements (3 of the baseline's not run here)" in section
    assert not any("removed" in line for line in section)
    comment = (suite.path / "c.md").read_text(encoding="utf-8")
    assert "removed" not in comment and "(3 of the baseline's not run here)" in comment
    coverage = load_run_file(suite.path / "shard.json").coverage
    assert coverage == Coverage(True, tuple(ALL), tuple(ALL[:2]), files=("test_models.py",))


def test_a_shard_named_by_node_ids_cannot_tell_a_removed_test_so_says_not_run_here(suite: pytest.Pytester) -> None:
    result = suite.runpytest("test_models.py::test_family_c", "--conv-baseline=base.json")
    section = conv_budget_section(result.stdout.lines)
    assert section[-1] == "conv budget: no change in 1 measurement (4 of the baseline's not run here)"


def test_what_a_shard_could_have_measured_and_did_not_is_removed(suite: pytest.Pytester) -> None:
    """Its test ran without that measurement (b2), or the suite was collected whole and the test is gone."""
    suite.makepyfile(test_models=MODELS.replace("def test_family_c", "def _gone"))
    result = suite.runpytest("-k", "family_b", "--conv-baseline=base.json", "--conv-comparison-json=c.json")
    assert result.ret == 0
    data = json.loads((suite.path / "c.json").read_text(encoding="utf-8"))
    assert [(entry["test_id"], entry["name"]) for entry in data["removed"]] == [("test_models.py::test_family_c", "Sequential")]
    assert [entry["test_id"] for entry in data["not_run"]] == ALL[:2]
    assert data["counts"]["removed"] == 1 and data["counts"]["not_run"] == 2


def test_a_measurement_its_test_no_longer_makes_is_removed(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROP_B2", "1")
    result = suite.runpytest("-k", "family_b", "--conv-baseline=base.json")
    section = conv_budget_section(result.stdout.lines)
    assert "removed: test_models.py::test_family_b [b2] (in the baseline, not in this run)" in section
    assert section[-1] == "conv budget: 0 of 1 measurements changed, 0 new, 1 removed, 3 not run here; " \
                          "all within limits"


def test_shards_merge_into_the_run_file_of_one_whole_run(suite: pytest.Pytester) -> None:
    suite.runpytest("--conv-run-file=whole.json").assert_outcomes(passed=5)
    suite.runpytest("-k", "family_a or not_measuring", "--conv-run-file=shard-1.json").assert_outcomes(
        passed=3, deselected=2)
    suite.runpytest("-k", "not (family_a or not_measuring)", "--conv-run-file=shard-2.json", "-n", "2").assert_outcomes(
        passed=2)
    merged = cli(suite, "merge", "shard-2.json", "shard-1.json", "-o", "merged.json", "--whole-suite")
    assert merged.returncode == 0, merged.stderr
    assert merged.stdout == "merged 2 run files into merged.json: 5 measurements; the whole suite\n"
    assert (suite.path / "merged.json").read_bytes() == (suite.path / "whole.json").read_bytes()
    for fmt in ("text", "markdown", "json", "html"):
        one = cli(suite, "diff", "base.json", "whole.json", "--format", fmt)
        shards = cli(suite, "diff", "base.json", "merged.json", "--format", fmt)
        assert (shards.returncode, shards.stdout.replace("merged.json", "whole.json")) == (one.returncode, one.stdout)


def test_a_baseline_saved_from_merged_shards_gates_the_next_pull_request(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.runpytest("-k", "family_a", "--conv-run-file=s1.json")
    suite.runpytest("-k", "not family_a", "--conv-run-file=s2.json")
    assert cli(suite, "merge", "s1.json", "s2.json", "-o", "baseline.json", "--whole-suite").returncode == 0
    monkeypatch.setenv("WIDTH_B", "12")
    result = suite.runpytest("-k", "family_b", "--conv-baseline=baseline.json", "--conv-max-increase=5")
    assert result.ret == 1
    assert conv_budget_section(result.stdout.lines)[-1] == (
        "conv budget: 1 of 2 measurements changed, 0 new, 0 removed, 3 not run here; 1 grew past the allowed increase"
    )


def test_merge_refuses_shards_of_different_runs_and_incomplete_baselines_in_one_line(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.runpytest("-k", "family_b", "--conv-run-file=s1.json")
    monkeypatch.setenv("WIDTH_B", "7")
    suite.runpytest("--conv-run-file=s2.json")
    refused = cli(suite, "merge", "s1.json", "s2.json", "-o", "out.json")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == ("convbudget merge: error: s2.json: 'test_models.py::test_family_b' ['b'] is measured "
                              "differently in s1.json: these are not shards of one run\n")
    assert not (suite.path / "out.json").exists()
    partial = cli(suite, "merge", "s1.json", "-o", "out.json", "--whole-suite")
    assert partial.returncode == 2
    assert partial.stderr == ("convbudget merge: error: 3 measuring test(s) ran in no shard, such as "
                              "test_models.py::test_family_a[4]; out.json not written\n")
    assert not (suite.path / "out.json").exists()
    (suite.path / "bad.json").write_text("{}", encoding="utf-8")
    bad = cli(suite, "merge", "s1.json", "bad.json", "-o", "out.json")
    assert bad.stderr == ('convbudget merge: error: bad.json: not a pytest-convbudget run file '
                          '(no "schema": "pytest-convbudget/run")\n')


def test_a_refused_baseline_save_is_on_the_last_line_and_can_fail_the_run(suite: pytest.Pytester) -> None:
    before = (suite.path / "base.json").read_bytes()
    result = suite.runpytest("-k", "family_a", "--conv-save-baseline=base.json")
    assert result.ret == 0
    assert "2 passed, 3 deselected, 1 conv budget baseline not saved in " in result.stdout.lines[-1]
    strict = suite.runpytest("-k", "family_a", "--conv-save-baseline=base.json", "--conv-require-save")
    assert strict.ret == 1
    assert "2 passed, 3 deselected, 1 conv budget baseline not saved in " in strict.stdout.lines[-1]
    assert (suite.path / "base.json").read_bytes() == before
    assert suite.runpytest("--conv-save-baseline=base.json", "--conv-require-save").ret == 0


def test_coverages_join_as_one_run() -> None:
    first = Coverage(True, ("a", "b", "c"), ("a",))
    second = Coverage(True, ("a", "b", "c"), ("b", "c"))
    assert join_coverages([first, second]) == Coverage(True, ("a", "b", "c"), ("a", "b", "c"))
    assert join_coverages([first, None]) is None
    paths_only = Coverage(False, ("c",), ("c",))
    assert join_coverages([paths_only, first]) == Coverage(True, ("c", "a", "b"), ("c", "a"))
    assert not first.could_measure("b") and first.could_measure("a") and first.could_measure("gone")
    assert not paths_only.could_measure("gone")


# -- removed told from not run, however the suite is split ------------------------------------------

FILES = {
    "test_a": "import torch\n\n"
              "def test_a1(conv_cost):\n    conv_cost(torch.nn.Conv2d(3, 4, 1), torch.randn(1, 3, 8, 8))\n\n"
              "def test_a2(conv_cost):\n    conv_cost(torch.nn.Conv2d(3, 5, 1), torch.randn(1, 3, 8, 8))\n",
    "test_b": "import torch\n\n"
              "def test_b1(conv_cost):\n    conv_cost(torch.nn.Conv2d(3, 6, 1), torch.randn(1, 3, 8, 8))\n",
    "test_c": "import torch\n\n"
              "def test_c1(conv_cost):\n    conv_cost(torch.nn.Conv2d(3, 7, 1), torch.randn(1, 3, 8, 8))\n",
}


@pytest.fixture
def changed_suite(pytester: pytest.Pytester, preloaded: None) -> pytest.Pytester:
    """A baseline of three files, then a pull request that deletes test_c.py and test_a2 from test_a.py."""
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ntestpaths = ["."]\n')
    pytester.makepyfile(**FILES)
    pytester.runpytest("--conv-save-baseline=base.json").assert_outcomes(passed=4)
    (pytester.path / "test_c.py").unlink()
    pytester.makepyfile(test_a=FILES["test_a"].split("\n\ndef test_a2")[0] + "\n")
    return pytester


def _verdict(pytester: pytest.Pytester, *args: str, shard: str) -> dict:
    result = pytester.runpytest(*args, "--conv-baseline=base.json", f"--conv-run-file={shard}",
                                f"--conv-comparison-json={shard}.comparison")
    assert result.ret == 0, result.stdout.lines
    data = json.loads((pytester.path / f"{shard}.comparison").read_text(encoding="utf-8"))
    return {"removed": sorted(e["test_id"] for e in data["removed"]),
            "not run": sorted(e["test_id"] for e in data["not_run"])}


SPLITS = {
    "file lists": (("test_a.py",), ("test_b.py",)),
    "node ids": (("test_a.py::test_a1",), ("test_b.py::test_b1",)),
    "pytest-split": (("--splits", "2", "--group", "1"), ("--splits", "2", "--group", "2")),
    "-k": (("-k", "test_a"), ("-k", "test_b")),
}


@pytest.mark.parametrize("split", list(SPLITS))
def test_a_deleted_test_and_a_deleted_file_are_removed_however_the_suite_is_split(
    changed_suite: pytest.Pytester, split: str
) -> None:
    """test_a2 is gone from a file some shard collected whole (not by node id: that shard cannot
    tell), and test_c.py is gone from the checkout; test_b1 ran in the other shard only."""
    if split == "pytest-split":
        pytest.importorskip("pytest_split")
    first, second = SPLITS[split]
    shards = [_verdict(changed_suite, *first, shard="s1.json"), _verdict(changed_suite, *second, shard="s2.json")]
    a2 = "test_a.py::test_a2"
    c1 = "test_c.py::test_c1"
    if split == "node ids":  # only the tests named were collected: test_a2 cannot be told from a test not run
        assert shards[0] == {"removed": [c1], "not run": [a2, "test_b.py::test_b1"]}
    else:
        assert shards[0]["removed"] == [a2, c1] and "test_b.py::test_b1" in shards[0]["not run"]
    merged = cli(changed_suite, "merge", "s1.json", "s2.json", "-o", "merged.json")
    assert merged.returncode == 0, merged.stderr
    shown = json.loads(cli(changed_suite, "diff", "base.json", "merged.json", "--format", "json").stdout)
    removed = sorted(e["test_id"] for e in shown["removed"])
    not_run = sorted(e["test_id"] for e in shown["not_run"])
    assert (removed, not_run) == (([c1], [a2]) if split == "node ids" else ([a2, c1], []))


def test_without_the_baseline_a_shard_cannot_know_a_file_was_deleted(changed_suite: pytest.Pytester) -> None:
    """The shards record the files they collected; a deleted file is one no shard collected, and only
    a shard that had the baseline knew to look for it: merged shards without it say "not run here"."""
    for name, path in (("s1.json", "test_a.py"), ("s2.json", "test_b.py")):
        changed_suite.runpytest(path, f"--conv-run-file={name}").assert_outcomes(passed=1)
    assert cli(changed_suite, "merge", "s1.json", "s2.json", "-o", "merged.json").returncode == 0
    shown = json.loads(cli(changed_suite, "diff", "base.json", "merged.json", "--format", "json").stdout)
    assert [e["test_id"] for e in shown["removed"]] == ["test_a.py::test_a2"]
    assert [e["test_id"] for e in shown["not_run"]] == ["test_c.py::test_c1"]
