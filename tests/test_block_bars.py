"""The before/after block chart of the PR comment, read as the reviewer reads it.

The two costs are real profiles of ``html_cases.net``; every bar is worked out
by hand below from the block FLOPs in that module's docstring.
"""

from __future__ import annotations

import pytest

from html_cases import net_cost
from pytest_convbudget.render.block_bars import BAR_WIDTH, bar, block_chart_lines
from pytest_convbudget.engine.results import ConvCost


@pytest.fixture(scope="module")
def costs() -> tuple[ConvCost, ConvCost]:
    return net_cost(grown=False), net_cost(grown=True)


def test_bars_are_integer_eighths_of_one_scale() -> None:
    assert bar(0, 10) == "░" * 16
    assert bar(10, 10) == "█" * 16
    assert bar(5, 10) == "█" * 8 + "░" * 8
    assert bar(3, 16) == "███" + "░" * 13  # 3/16 of 128 steps = 24 = three full cells
    assert bar(1, 128) == "▏" + "░" * 15  # one step
    assert bar(1, 10**12) == "▏" + "░" * 15  # never invisible when not zero
    assert bar(10**30 + 1, 10**30) == "█" * 16  # exact and capped, however large
    assert all(len(bar(value, 97)) == BAR_WIDTH for value in range(98))


def test_the_reviewer_sees_each_block_before_and_after(costs: tuple[ConvCost, ConvCost]) -> None:
    # Scale: body after, 622,592 FLOPs = 128 steps.
    #   stem 110,592 -> 23 steps (22.74 rounded) = 2 full cells and 7/8;  body before 311,296 -> 64 steps;
    #   neck/head 4,096 -> 1 step (0.84 rounded). Totals 425,984 -> 737,280 is +73.1%.
    assert block_chart_lines(*costs) == [
        "FLOPs per sample by top-level block, before → after (bars to one scale):",
        "",
        "| block | before | after | change |",
        "| --- | --- | --- | --- |",
        "| `stem` | `██▉░░░░░░░░░░░░░` 111 k | `██▉░░░░░░░░░░░░░` 111 k | 0% |",
        "| `body` | `████████░░░░░░░░` 311 k | `████████████████` 623 k | +100.0% |",
        "| `neck` | — | `▏░░░░░░░░░░░░░░░` 4.10 k | new |",
        "| `head` | `▏░░░░░░░░░░░░░░░` 4.10 k | — | gone |",
        "| **total** | 426 k | 737 k | +73.1% |",
    ]


def test_params_can_be_drawn_instead(costs: tuple[ConvCost, ConvCost]) -> None:
    # params: stem 224; body 584 + 36 = 620 -> 1,168 + 68 = 1,236; head/neck 10. Scale 1,236.
    #   stem 224*128/1236 = 23.2 -> 23 steps; body before 620*128/1236 = 64.2 -> 64; 10 -> 1.04 -> 1
    lines = block_chart_lines(*costs, figure="params")
    assert lines[0] == "params per sample by top-level block, before → after (bars to one scale):"
    assert lines[5] == "| `body` | `████████░░░░░░░░` 620 | `████████████████` 1.24 k | +99.4% |"
    assert lines[-1] == "| **total** | 854 | 1.47 k | +72.1% |"


def test_past_the_row_cap_the_least_changed_blocks_are_summed_into_one_row(costs: tuple[ConvCost, ConvCost]) -> None:
    # Kept: body (changed by 311,296). Folded: stem (0), neck (+4,096), head (-4,096):
    #   before 110,592 + 0 + 4,096 = 114,688; after 110,592 + 4,096 + 0 = 114,688.
    lines = block_chart_lines(*costs, max_rows=2)
    assert lines[4:] == [
        "| `body` | `████████░░░░░░░░` 311 k | `████████████████` 623 k | +100.0% |",
        "| … 3 more blocks, summed | 115 k | 115 k | 0% |",
        "| **total** | 426 k | 737 k | +73.1% |",
    ]


def test_the_picture_stays_small_for_a_model_with_hundreds_of_blocks(costs: tuple[ConvCost, ConvCost]) -> None:
    before, after = costs
    layer = after.layers[0]
    wide = ConvCost.from_dict({
        **after.to_dict(),
        "layers": [{**layer.to_dict(), "name": f"block{index}", "flops": index + 1} for index in range(300)],
    })
    lines = block_chart_lines(before, wide)
    assert len(lines) == 4 + 11 + 1 + 1  # heading, 11 blocks, the folded row, the total
    assert "| … 292 more blocks, summed |" in lines[-2]  # 300 new + 3 gone = 303 blocks, 11 shown
    assert len("\n".join(lines)) < 2_000
