"""The benchmark script runs end to end and writes the JSON it promises.

This checks that ``benchmarks/run.py --quick`` works, never how fast anything
is: times on a shared CI machine mean nothing, and a test that asserted one
would fail at random. The optional counters (thop, ptflops, fvcore) may be
absent, in which case their rows must be listed as skipped instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "benchmarks" / "run.py"

# Rows the quick run always produces: they need nothing beyond torch and pytest.
ALWAYS = {
    "overhead/resnet_style/1x3x224x224",
    "overhead/resnet_style/4x3x224x224",
    "meta_vs_real/resnet_style/4x3x224x224",
    "floor/resnet_style/4x3x224x224",
    "vs_flopcounter_real/resnet_style/4x3x224x224",
    "vs_flopcounter_meta/resnet_style/4x3x224x224",
    "memory/unet3d/1x1x64x64x64",
    "startup/50_tests",
    "scale/100_vs_10",
    "all_kinds/vit_tiny/4x3x32x32",
    "all_kinds_vs_flopcounter_meta/vit_tiny/4x3x32x32",
    "all_kinds/resnet_style/4x3x224x224",
    "all_kinds_vs_flopcounter_meta/resnet_style/4x3x224x224",
}
# Rows that exist only where the tool is installed; otherwise they are skipped.
OPTIONAL = ("thop", "ptflops_pytorch", "ptflops_aten", "fvcore")
NUMBERS = ("a", "b", "figure")
TEXTS = ("name", "group", "a_label", "b_label", "unit", "figure_text", "target")


def test_quick_benchmark_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = json.loads(out.read_text())

    assert report["quick"] is True
    assert report["errors"] == []
    assert {"platform", "cpu_count", "torch", "torch_threads"} <= set(report["machine"])
    names = {row["name"] for row in report["rows"]}
    assert ALWAYS <= names
    skipped = {entry["name"] for entry in report["skipped"]}
    for tool in OPTIONAL:
        row = f"vs_{tool}/resnet_style/4x3x224x224"
        assert (row in names) != (f"vs_{tool}" in skipped), tool
    for row in report["rows"]:
        for key in NUMBERS:
            assert isinstance(row[key], (int, float)) and not isinstance(row[key], bool), (row["name"], key)
        for key in TEXTS:
            assert isinstance(row[key], str) and row[key], (row["name"], key)
        assert isinstance(row["passed"], bool)
    for check in report["count_checks"]:
        assert isinstance(check["their_conv_macs"], int) and isinstance(check["our_conv_macs"], int)
