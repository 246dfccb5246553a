"""The pull-request comment, rendered for a real change and read line by line as a reviewer would.

The two run files come from real profiles of tiny models (on the meta device)
written and read back through the run-file format, so the comment is the one
CI would post. Costs are counted by hand below (a conv with bias costs
2 FLOPs per MAC), so every cell is checked against arithmetic,
not against the renderer's own output.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from pytest_convbudget import ConvCost, profile
from pytest_convbudget.ci.compare import compare_runs
from pytest_convbudget.budgets.pyproject import Limit
from pytest_convbudget.render.markdown import COMMENT_MARKER, GITHUB_COMMENT_LIMIT, SHOWN_FAILURES, render_markdown
from pytest_convbudget.budgets.measurement import Measurement
from pytest_convbudget.ci.runfile import RunEntry, RunFile, build_run_file, load_run_file
from pytest_convbudget.ci.verdict import GatePolicy, build_report

# ``detector(head=False)`` on 1x3x16x16, every conv padded to keep 16x16 (256 positions), all with bias:
#   backbone.stem  Conv2d(3, 8, 3):  params 224;   MACs 27*8*256 = 55,296;   FLOPs 110,592
#   backbone.mid   Conv2d(8, 8, 3):  params 584;   MACs 72*8*256 = 147,456;  FLOPs 294,912
#   backbone.old   Conv2d(8, 4, 1):  params 36;    MACs 8*4*256 = 8,192;     FLOPs 16,384
#   backbone.tail  Conv2d(4, 4, 3):  params 148;   MACs 36*4*256 = 36,864;   FLOPs 73,728
#   total: params 992, FLOPs 495,616, MACs 247,808
# ``detector(head=True)``: mid grows, old is replaced by new, tail shrinks to a 1x1:
#   backbone.stem  unchanged
#   backbone.mid   Conv2d(8, 16, 3): params 1,168; MACs 72*16*256 = 294,912; FLOPs 589,824  (+100%)
#   backbone.new   Conv2d(16, 4, 1): params 68;    MACs 16*4*256 = 16,384;   FLOPs 32,768   (added)
#   backbone.tail  Conv2d(4, 4, 1):  params 20;    MACs 4*4*256 = 4,096;     FLOPs 8,192    (-88.9%)
#   total: params 1,480 (+49.2%), FLOPs 741,376 (+49.6%), MACs 370,688 (+49.6%)
# ``Conv2d(3, 2, 1)`` (the new "classifier"): params 8; MACs 3*2*256 = 1,536; FLOPs 3,072


def detector(head: bool) -> nn.Module:
    width = 16 if head else 8
    layers = OrderedDict(stem=nn.Conv2d(3, 8, 3, padding=1), mid=nn.Conv2d(8, width, 3, padding=1))
    if head:
        layers["new"] = nn.Conv2d(width, 4, 1)
    else:
        layers["old"] = nn.Conv2d(width, 4, 1)
    layers["tail"] = nn.Conv2d(4, 4, 1 if head else 3, padding=0 if head else 1)
    return nn.Sequential(OrderedDict(backbone=nn.Sequential(layers)))


def measure(model: nn.Module) -> ConvCost:
    return profile(model, torch.randn(1, 3, 16, 16), device="meta")


def entry(test_id: str, name: str, cost: ConvCost) -> RunEntry:
    return RunEntry(Measurement(test_id=test_id, name=name, index=0, cost=cost, per="sample"), "passed")


def through_file(run: RunFile, path: Path) -> RunFile:
    """Write and read back, as CI does with its artifacts."""
    path.write_text(run.to_json(), encoding="utf-8")
    return load_run_file(path)


def comment(base: RunFile, head: RunFile, max_increase: float | None = None) -> str:
    """The comment the gate posts for these two runs (through the one report both the plugin and diff build)."""
    return render_markdown(build_report(head, base, GatePolicy(override=max_increase)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunFile, RunFile]:
    """main's run and a PR's run: one model changed, one unchanged, one new, one gone."""
    folder = tmp_path_factory.mktemp("runs")
    stem = measure(nn.Conv2d(3, 4, 1, bias=False))
    base = build_run_file([
        entry("tests/test_models.py::test_detector", "Sequential", measure(detector(head=False))),
        entry("tests/test_models.py::test_stem", "stem", stem),
        entry("tests/test_models.py::test_legacy", "legacy", measure(nn.Conv2d(3, 3, 1))),
    ], "auto")
    head = build_run_file([
        entry("tests/test_models.py::test_detector", "Sequential", measure(detector(head=True))),
        entry("tests/test_models.py::test_stem", "stem", stem),
        entry("tests/test_models.py::test_classifier", "classifier", measure(nn.Conv2d(3, 2, 1))),
    ], "auto")
    return through_file(base, folder / "base.json"), through_file(head, folder / "head.json")


DETECTOR_ROW = (
    "| `tests/test_models.py::test_detector` | `Sequential` | 992 → 1.48 k (+49.2%) 🔺🔺🔺 | "
    "496 k → 741 k (+49.6%) 🔺🔺🔺 | 248 k → 371 k (+49.6%) 🔺🔺🔺 |"
)
DETECTOR_DETAILS = [
    "<details>",
    "<summary><code>Sequential</code> in <code>tests/test_models.py::test_detector</code>: 4 layer(s) changed</summary>",
    "",
    # one top-level block holds all the cost, so the bars descend into it (folding.opened_blocks);
    # bars are 16 cells of 8 steps, to the largest block's scale (mid after, 589,824):
    # stem 110,592 / 589,824 * 128 = 24 steps (3 cells); mid 64 steps before (8 cells), 128 after;
    # new 32,768 -> 7.1 -> 7 steps (a 7/8 cell); tail 73,728 -> 16 steps (2 cells), then 8,192 -> 1.8 -> 2 steps;
    # old 16,384 -> 3.6 -> 4 steps (a 4/8 cell)
    "FLOPs per sample by block, before → after (bars to one scale):",
    "",
    "| block | before | after | change |",
    "| --- | --- | --- | --- |",
    "| `backbone.stem` | `███░░░░░░░░░░░░░` 111 k | `███░░░░░░░░░░░░░` 111 k | 0% |",
    "| `backbone.mid` | `████████░░░░░░░░` 295 k | `████████████████` 590 k | +100.0% |",
    "| `backbone.new` | — | `▉░░░░░░░░░░░░░░░` 32.8 k | new |",
    "| `backbone.tail` | `██░░░░░░░░░░░░░░` 73.7 k | `▎░░░░░░░░░░░░░░░` 8.19 k | -88.9% |",
    "| `backbone.old` | `▌░░░░░░░░░░░░░░░` 16.4 k | — | gone |",
    "| **total** | 496 k | 741 k | +49.6% |",
    "",
    "| layer | status | FLOPs | params |",
    "| --- | --- | --- | --- |",
    "| `backbone.mid` | grown | 295 k → 590 k (+100.0%) 🔺🔺🔺 | 584 → 1.17 k (+100.0%) 🔺🔺🔺 |",
    "| `backbone.new` | added | 0 → 32.8 k (new) 🔺🔺🔺 | 0 → 68 (new) 🔺🔺🔺 |",
    "| `backbone.tail` | shrunk | 73.7 k → 8.19 k (-88.9%) 🔻🔻🔻 | 148 → 20 (-86.5%) 🔻🔻🔻 |",
    "| `backbone.old` | removed | 16.4 k → 0 (-100.0%) 🔻🔻🔻 | 36 → 0 (-100.0%) 🔻🔻🔻 |",
    "",
    "</details>",
]


def test_comment_for_a_real_change_reads_line_by_line(runs: tuple[RunFile, RunFile]) -> None:
    """The whole comment a reviewer sees: marker, verdict, table, new and gone, the unchanged count, then the layers."""
    body = comment(*runs)
    assert body.splitlines() == [
        COMMENT_MARKER,
        "⚠️ **conv budget**: 1 of 3 measurements changed, 1 new, 1 removed; all within limits",
        "",
        "| test | model | params | FLOPs | MACs |",
        "| --- | --- | --- | --- | --- |",
        DETECTOR_ROW,
        "",
        "- new: `classifier` in `tests/test_models.py::test_classifier` (3.07 k FLOPs)",
        "- removed: `legacy` in `tests/test_models.py::test_legacy`",
        "",
        "1 unchanged measurement(s) not shown.",
        *DETECTOR_DETAILS,
    ]
    assert body.endswith("\n")


def test_comment_for_a_regression_says_what_grew_past_the_limit(runs: tuple[RunFile, RunFile]) -> None:
    """When the gate fails, the verdict says so first, and the comment names the figure and the layers that grew;
    the regression is named once, so the table of other changes (none here) does not repeat it."""
    lines = comment(*runs, max_increase=5).splitlines()
    assert lines[1] == "❌ **conv budget**: 1 of 3 measurements changed, 1 new, 1 removed; 1 grew past the allowed increase"
    start = lines.index("**Grew past the allowed increase (1):**")
    assert lines[start + 1:start + 3] == [
        "- tests/test_models.py::test_detector [Sequential]: params +49.2% (992 -> 1.48 k), "
        "FLOPs +49.6% (496 k -> 741 k), MACs +49.6% (248 k -> 371 k), "
        "more than the 5% allowed; grew in backbone.mid, backbone.new",
        "",
    ]
    assert DETECTOR_ROW not in lines and not any(line.startswith("| test |") for line in lines)
    listing = "\n".join(lines[:lines.index("<details>")])
    assert listing.count("tests/test_models.py::test_detector") == 1


def test_comment_without_changes_is_one_verdict(runs: tuple[RunFile, RunFile]) -> None:
    """A PR that leaves every model alone gets a short green comment, not an empty table."""
    stem = RunFile(tuple(e for e in runs[0].entries if e.measurement.name == "stem"))
    assert comment(stem, stem).splitlines() == [
        COMMENT_MARKER,
        "✅ **conv budget**: no change in 1 measurement",
        "",
        "1 unchanged measurement(s) not shown.",
    ]


def test_pipes_in_test_ids_do_not_break_the_table() -> None:
    """Parametrized ids can hold '|': escaped, the row still has exactly five cells."""
    test_id = "tests/test_models.py::test_width[a|b]"
    base = RunFile((entry(test_id, "Conv2d", measure(nn.Conv2d(3, 4, 1))),))
    head = RunFile((entry(test_id, "Conv2d", measure(nn.Conv2d(3, 8, 1))),))
    rows = [line for line in comment(base, head).splitlines() if "test_width" in line and line.startswith("|")]
    assert len(rows) == 1
    cells = re.split(r"(?<!\\)\|", rows[0])[1:-1]
    assert len(cells) == 5
    assert cells[0].strip() == "`tests/test_models.py::test_width[a\\|b]`"


def zoo(width: int, test_id: str, count: int) -> RunFile:
    """``count`` measurements of one 30-layer model under different parametrized ids."""
    layers = OrderedDict((f"stage{i}", nn.Conv2d(3 if i == 0 else width, width, 3, padding=1)) for i in range(30))
    cost = profile(nn.Sequential(layers), torch.randn(1, 3, 8, 8), device="meta")
    return RunFile(tuple(entry(test_id.format(i), "DetectorBackbone", cost) for i in range(count)))


def test_four_hundred_changes_stay_within_the_comment_limit() -> None:
    """A model zoo where everything changed still posts: layer details are dropped, and the comment says so."""
    ids = "test_zoo.py::test_cost[m{:03d}]"
    comparison = compare_runs(zoo(4, ids, 400), zoo(5, ids, 400))
    assert len(comparison.changed) == 400 and all(len(c.layers) == 30 for c in comparison.changed)
    body = comment(zoo(4, ids, 400), zoo(5, ids, 400))
    assert len(body) <= GITHUB_COMMENT_LIMIT
    lines = body.splitlines()
    assert lines[0] == COMMENT_MARKER
    assert sum(line.startswith("| `test_zoo.py::test_cost[m") for line in lines) == 400
    assert body.count("<details>") < 400
    left_out = 400 - body.count("<details>")
    assert lines[-1] == (
        f"_{left_out} model(s)' layer details left out to stay within GitHub's comment size; see the JSON artifact._"
    )


@pytest.mark.parametrize(
    ("ids", "max_increase"),
    [
        pytest.param("tests/models/test_zoo.py::test_model_cost[variant-{:03d}]", None, id="long-ids"),
        pytest.param("test_zoo.py::test_cost[m{:03d}]", 5.0, id="all-regressions"),
    ],
)
def test_four_hundred_changes_stay_within_the_limit_whatever_the_ids(ids: str, max_increase: float | None) -> None:
    """Real ids are longer (tests/models/...::test_model_cost[variant-123]) and a bad PR fails the gate for every
    model at once: GitHub refuses a comment over its limit, so the PR would get no comment at all."""
    body = comment(zoo(4, ids, 400), zoo(5, ids, 400), max_increase)
    assert len(body) <= GITHUB_COMMENT_LIMIT
    assert body.splitlines()[0] == COMMENT_MARKER


def test_five_hundred_failures_read_in_order_and_fit() -> None:
    """500 measurements, each grown past the gate and over its budget: the comment still posts, opens with
    the verdict, and names every one of them once, under Over budget: the first ones openly with their
    figures, the rest folded by name alone (their full lines would not fit). The regressions section
    says they are listed above instead of naming them again, and no table repeats them."""
    ids = "tests/models/test_zoo.py::test_model_cost[variant-{:03d}]"
    limit = Limit("flops", 1_000, "pyproject.toml [tool.convbudget] flops")
    head = zoo(5, ids, 500)
    head = RunFile(tuple(RunEntry(replace(e.measurement, limits=(limit,)), "failed") for e in head.entries))
    body = comment(zoo(4, ids, 500), head, max_increase=5)
    assert len(body) <= GITHUB_COMMENT_LIMIT
    lines = body.splitlines()
    assert lines[:4] == [
        COMMENT_MARKER,
        "❌ **conv budget**: 500 of 500 measurements changed, 0 new, 0 removed; "
        "500 over budget, 500 grew past the allowed increase",
        "",
        "**Over budget (500):**",
    ]
    over = [line for line in lines if line.startswith("- `DetectorBackbone` in ")]
    assert len(over) == 500
    assert lines[4:4 + SHOWN_FAILURES] == over[:SHOWN_FAILURES]
    # zoo(5) on 8x8 (64 positions), bias: stage0 Conv2d(3, 5, 3): 2*27*5*64 = 17,280 FLOPs;
    # stage1..29 Conv2d(5, 5, 3): 2*45*5*64 = 28,800 each; total 17,280 + 29*28,800 = 852,480 (+85,148.0% over 1,000)
    # zoo(4): 2*27*4*64 = 13,824 + 29 * 2*36*4*64 = 18,432 each: 548,352 FLOPs (+55.5%), MACs 274,176 (+55.5%);
    # params 112 + 29*148 = 4,404 before, 140 + 29*230 = 6,810 after (+54.6%)
    assert over[0] == (
        "- `DetectorBackbone` in `tests/models/test_zoo.py::test_model_cost[variant-000]` (changed): "
        "FLOPs 852 k > 1.00 k (+85148.0%), limit from `pyproject.toml [tool.convbudget] flops`; "
        "costliest by FLOPs: `stage1` 28.8 k, `stage2` 28.8 k, `stage3` 28.8 k; "
        "grew more than the 5% allowed: params +54.6% (4.40 k → 6.81 k), FLOPs +55.5% (548 k → 852 k), "
        "MACs +55.5% (274 k → 426 k); grew in stage0, stage1, stage2, and 27 more"
    )
    assert over[SHOWN_FAILURES] == (
        "- `DetectorBackbone` in `tests/models/test_zoo.py::test_model_cost[variant-020]` (changed)")
    assert f"<details><summary>{500 - SHOWN_FAILURES} more over-budget measurement(s)</summary>" in lines
    regressions = lines.index("**Grew past the allowed increase (500):**")
    assert lines[regressions + 1] == "_All 500 are listed under Over budget above._"
    assert lines.index("**Over budget (500):**") < regressions < lines.index("<details>")
    assert not any(line.startswith("| `tests/models") for line in lines)  # no table names them again
    listing = "\n".join(lines[:lines.index("<details>")])
    assert all(listing.count(ids.format(index) + "`") == 1 for index in range(500))
    assert max(len(line) for line in lines) < 500  # one failure a line, none of them a wall of text


def test_a_reviewer_sees_each_changed_model_as_bars_inside_its_details() -> None:
    """Unfolding a changed model shows its top-level blocks as bars to one scale, before and after, then its layers.

    ``html_cases.net``: stem 110,592 FLOPs both times; body 311,296 -> 622,592; head (4,096) went, neck (4,096)
    came. Bars are 16 cells of 8 steps to the largest figure, 622,592: stem 110,592 * 128 / 622,592 = 22.7 -> 23
    steps (2 cells and 7/8); body 64 steps before (8 cells), 128 after; 4,096 is 0.8 -> 1 step, never drawn empty.
    """
    from html_cases import net, net_cost

    from pytest_convbudget.render.block_bars import block_chart_lines

    base = RunFile((entry("tests/test_models.py::test_net", "Sequential", measure(net(False))),))
    head = RunFile((entry("tests/test_models.py::test_net", "Sequential", measure(net(True))),))
    lines = comment(base, head).splitlines()
    details = lines[lines.index("<details>"):]
    # the bars themselves are worked out cell by cell in test_block_bars.py, on the same two nets
    assert details[:13] == [
        "<details>",
        "<summary><code>Sequential</code> in <code>tests/test_models.py::test_net</code>: 4 layer(s) changed</summary>",
        "",
        *block_chart_lines(net_cost(grown=False), net_cost(grown=True)),
        "",
    ]
    assert details[3] == "FLOPs per sample by top-level block, before → after (bars to one scale):"
    assert details[8] == "| `body` | `████████░░░░░░░░` 311 k | `████████████████` 623 k | +100.0% |"
    assert details[13] == "| layer | status | FLOPs | params |"
    assert details[-1] == "</details>"
    assert all(len(re.findall(r"`[█▉▊▋▌▍▎▏░]+`", line)) in (1, 2) for line in details[7:11])  # every bar in a code span
