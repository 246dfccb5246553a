"""Pin ``python -m pytest_convbudget profile``, run the way a user runs it.

Each invocation is a real subprocess, since what matters is what a user sees:
the table on stdout, the exit status, and for every mistake one readable line
on stderr, never a traceback. Every run pays for importing torch, so all of
them start together once per module, a few at a time, and the tests read their
results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import models
import pytest
import torch

from pytest_convbudget import profile
from pytest_convbudget.render.outputs import HTML_REPORT
from pytest_convbudget.render.phrases import not_written

REPO_ROOT = Path(__file__).resolve().parent.parent
ERROR_PREFIX = "python -m pytest_convbudget: error:"

USER_NETS = '''
    """Factories a user might point the CLI at, good and bad."""
    import torch
    from torch import nn


    def tiny():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1))


    def exploding():
        raise RuntimeError("weights server unreachable")


    def not_a_model():
        return {"conv": 3}


    class BrokenHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            raise KeyError("no such head")


    def broken_head():
        return BrokenHead()
'''

# name -> (arguments after "profile", a fragment the one error line must contain)
BAD_INVOCATIONS = {
    "no colon": (["{examples}", "--input", "1x3x8x8"], "bad model spec"),
    "missing file": (["{helpers}/missing.py:build", "--input", "1x3x8x8"], "missing.py"),
    "missing attribute": (["{examples}:resnet999", "--input", "1x3x8x8"], "resnet999"),
    "module not importable": (["no_such_module_anywhere:build", "--input", "1x3x8x8"], "no_such_module_anywhere"),
    "file fails to import": (["{helpers}/broken_import.py:build", "--input", "1x3x8x8"], "nothing_here_at_all"),
    "factory raises": (["{helpers}/user_nets.py:exploding", "--input", "1x3x8x8"], "weights server unreachable"),
    "factory returns a dict": (["{helpers}/user_nets.py:not_a_model", "--input", "1x3x8x8"], "dict"),
    "forward raises": (["{helpers}/user_nets.py:broken_head", "--input", "1x3x8x8"], "no such head"),
    "letter in shape": (["{examples}:resnet18", "--input", "1x3xA"], "1x3xA"),
    "zero in shape": (["{examples}:resnet18", "--input", "0x3"], "0x3"),
    "unknown device": (["{examples}:resnet18", "--input", "1x3x32x32", "--device", "tpu"], "tpu"),
    "unknown kind": (["{examples}:resnet18", "--input", "1x3x32x32", "--count", "conv", "--count", "convs"],
                     "--count: count = ['conv', 'convs']: unknown kind 'convs'"),
    "unknown kind beside all": (["{examples}:resnet18", "--input", "1x3x32x32", "--count", "all", "--count", "bogus"],
                                "--count: count = ['all', 'bogus']: unknown kind 'bogus'"),
    "unwritable html path": (["{examples}:resnet18", "--input", "1x3x32x32", "--html", "{helpers}/broken_import.py/p.html"],
                             not_written(HTML_REPORT, Path("{helpers}/broken_import.py/p.html"), "")),
}

GOOD_INVOCATIONS = {
    "table": ["examples/models.py:resnet18", "--input", "1x3x224x224"],
    "json": ["examples/models.py:resnet18", "--input", "1x3x224x224", "--json"],
    "module path": ["user_nets:tiny", "--input", "2x3x8x8", "--json"],
    "all kinds": ["examples/models.py:vit_tiny", "--input", "2x3x32x32", "--count", "all"],
    "html": ["examples/models.py:vit_tiny", "--input", "2x3x32x32", "--count", "all", "--html", "{helpers}/pages/vit.html"],
}


@pytest.fixture(scope="module")
def helpers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's own code, outside the repository; pages written by ``--html`` go here too."""
    folder = tmp_path_factory.mktemp("user_code")
    (folder / "user_nets.py").write_text(textwrap.dedent(USER_NETS))
    (folder / "broken_import.py").write_text("import nothing_here_at_all\n")
    return folder


@pytest.fixture(scope="module")
def runs(helpers: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every CLI invocation of this module, run once, four at a time, from the repository root."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(helpers)])
    env["OMP_NUM_THREADS"] = "1"
    places = {"examples": str(REPO_ROOT / "examples" / "models.py"), "helpers": str(helpers)}
    commands = {name: [arg.format(**places) for arg in args] for name, args in GOOD_INVOCATIONS.items()}
    for name, (args, _) in BAD_INVOCATIONS.items():
        commands[name] = [arg.format(**places) for arg in args]

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest_convbudget", "profile", *args],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run, args) for name, args in commands.items()}
        return {name: future.result() for name, future in futures.items()}


def test_profile_prints_the_layer_table_and_exact_totals(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """The documented command gives one row per conv call and the totals, as exact integers."""
    result = runs["table"]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert "ResNet" in lines[0] and "1x3x224x224" in lines[0]
    assert lines[1].split()[:2] == ["layer", "type"]
    rows = lines[2:lines.index("")]  # title, header, then one row per call up to a blank line
    assert len(rows) == 20  # ResNet-18 has 20 convs, each called once
    assert rows[0].startswith("conv1 ") and rows[-1].startswith("layer4.1.conv2 ")
    last = next(line for line in rows if line.startswith("layer4.1.conv2 "))
    # 3x3x512 -> 512 on 7x7, no bias: params 9*512*512, MACs 4608*512*49, FLOPs (2*4608-1)*512*49
    assert last.split()[-3:] == ["2,359,296", "231,185,920", "115,605,504"]
    totals = {line.split(":")[0]: line for line in lines if line.startswith("total ")}
    assert totals["total conv parameters"].startswith("total conv parameters: 11,166,912 ")
    assert "model parameters: 11,689,512 " in totals["total conv parameters"]
    # MACs: torchvision's 1.814 G less the fc's 512,000; FLOPs: 2*MACs less one add per conv output
    assert totals["total conv MACs"].startswith("total conv MACs: 1,813,561,344 ")
    assert totals["total conv FLOPs"].startswith("total conv FLOPs: 3,624,638,976 ")


def test_json_output_equals_the_engines_to_dict(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """``--json`` prints exactly ``profile(...).to_dict()``: the figures a budget or baseline stores."""
    result = runs["json"]
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    expected = profile(models.resnet18(), torch.randn(1, 3, 224, 224)).to_dict()
    assert printed == expected
    assert printed["macs"] == 1_813_561_344
    assert type(printed["total_flops"]) is int


def test_module_path_form_finds_a_factory_on_the_path(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """``package.module:factory`` imports through ``sys.path`` (here, PYTHONPATH)."""
    result = runs["module path"]
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert [layer["name"] for layer in printed["layers"]] == ["0", "1"]
    assert printed["batch_size"] == 2
    assert printed["macs"] == 27 * 4 * 36 + 4 * 2 * 36
    assert printed["total_macs"] == 2 * printed["macs"]
    assert printed["params"] == (27 * 4 + 4) + (4 * 2 + 2)


@pytest.mark.parametrize("case", list(BAD_INVOCATIONS))
def test_a_mistake_gives_one_line_and_exit_status_2(
    case: str, runs: dict[str, subprocess.CompletedProcess[str]], helpers: Path
) -> None:
    """Bad specs, files, factories, shapes and devices: one clear line on stderr, no traceback."""
    result = runs[case]
    fragment = BAD_INVOCATIONS[case][1]
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(ERROR_PREFIX)
    assert fragment.format(helpers=helpers) in lines[0]


def test_count_all_shows_each_call_with_its_kind_and_a_breakdown(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """``--count all`` on a small ViT: a kind column, ops under their modules, per-kind totals."""
    result = runs["all kinds"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == ["layer", "kind", "type"]
    expected = profile(models.vit_tiny(), torch.randn(2, 3, 32, 32), count="all")
    attention = next(layer for layer in expected.layers if layer.kind == "attention")
    assert attention.label.endswith(", call 2")  # the self-attention's second call: its attention op
    assert any(line.startswith(attention.label + " ")
               and line[len(attention.label):].split()[:2] == ["attention", "scaled_dot_product_attention"]
               for line in lines)
    kinds = lines[lines.index(next(line for line in lines if line.startswith("by kind "))):][:6]
    assert [line.split()[0] for line in kinds] == ["by", "conv", "linear", "matmul", "attention", "functional_conv"]
    share = {line.split()[0]: line.split() for line in kinds[1:]}
    for kind, cost in expected.by_kind().items():
        assert share[kind][1:] == [str(cost.calls), f"{cost.params:,}", f"{cost.flops:,}", f"{cost.macs:,}"]
    assert f"total counted MACs: {expected.macs:,} " in result.stdout


def test_html_writes_the_profile_as_one_page_and_prints_the_table(
    runs: dict[str, subprocess.CompletedProcess[str]], helpers: Path
) -> None:
    """``--html PATH``: the table as usual, and a page of the one measurement, with no limits and every kind counted."""
    import re

    result = runs["html"]
    assert result.returncode == 0, result.stderr
    assert result.stdout == runs["all kinds"].stdout  # the table is the same with or without the page
    page = (helpers / "pages" / "vit.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<strong>1 measurements, 0 over budget; no baseline to compare with</strong>" in page
    (data,) = re.findall(r'<script type="application/json" id="cb-data">(.*?)</script>', page, re.S)
    data = json.loads(data)
    (row,) = [dict(zip(data["row_fields"], values)) for values in data["rows"]]  # the page's script draws it
    assert (row["status"], row["status_class"], row["test_id"]) == ("no budget", "none", "examples/models.py:vit_tiny")
    detail = data["detail"][row["detail"]]
    expected = profile(models.vit_tiny(), torch.randn(2, 3, 32, 32), count="all")
    assert detail["kinds"] == list(expected.count)
    assert detail["tree"]["values"] == {"params": str(expected.params), "flops": str(expected.flops),
                                        "macs": str(expected.macs)}
