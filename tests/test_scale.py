"""The scale benchmark runs end to end, and the runs it generates are what it says they are.

``benchmarks/scale.py --quick`` (200 measurements) must write every row it promises: this checks
that the script works, never how fast anything is (times on a shared machine mean nothing here;
the figures are on the performance page). The generated runs must hold what a big suite's pull
request holds: changed, added, removed and over-budget measurements among unchanged ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "benchmarks" / "scale.py"
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import scale  # noqa: E402  (the benchmark folder is no package)

ROWS = {"diff text", "diff markdown", "diff json", "diff html", "merge"}


@pytest.fixture(scope="module")
def costs() -> list[dict]:
    return scale.profile_shapes(scale.QUICK_SHAPES)


def test_the_generated_runs_hold_what_a_big_pull_request_holds(costs: list[dict]) -> None:
    from pytest_convbudget.ci.verdict import GatePolicy, build_report

    base, head = scale.make_runs(costs, 1000)
    counts = build_report(head, base, GatePolicy()).counts
    assert len(base.entries) == 1000
    assert 10 < counts.removed < 40 and counts.added == 20
    assert 0 < counts.changed < 400 < counts.unchanged
    report = build_report(head, base, GatePolicy())
    assert 0 < len(report.over_budget) < 30
    assert {entry.measurement.cost.count for entry in head.entries} == {("conv",), scale_all_kinds()}
    shards = scale.shards_of(head, scale.SHARDS)
    assert sum(len(shard.entries) for shard in shards) == len(head.entries)


def scale_all_kinds() -> tuple[str, ...]:
    from pytest_convbudget.engine.kinds import KINDS

    return tuple(KINDS)


def test_the_quick_run_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out), "--skip", "browser"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads((out / "scale.json").read_text(encoding="utf-8"))
    assert figures["measurements"] == 200
    assert set(figures["rows"]) == ROWS
    assert all(row["seconds"] > 0 and row["peak_mib"] > 0 for row in figures["rows"].values())
    assert 0 < figures["run_file_mib"] and 0 < figures["page_mib"]
    plugin = figures["plugin"]
    assert plugin["tests"] == 200 and plugin["with_s"] > 0 and plugin["without_s"] > 0
    assert plugin["held_kib_per_measurement"] > 0
    assert "held per measurement" in done.stdout
