"""A before/after picture of one changed model for the pull-request comment.

GitHub renders neither inline SVG nor scripts in a comment, but it renders
Unicode block characters in a table. So each block gets two bars drawn to one
scale, in code spans (monospace, so bars line up), with its figures and the
change. The blocks are where :mod:`.folding` stops them: the top level, through
any block that holds nearly all the cost (a causal LM's ``model``), or a fixed
depth; repeated blocks are one row (``model.layers.* ×12``). Rows are capped;
what is folded is summed into one row, so the column still adds up to the model's total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..ci.compare import FigureChange
from ..words.quantity import format_quantity
from ..words.vocabulary import FIGURE_LABELS
from . import folding
from .markup import code_span
from .phrases import layer_label, percent_text

if TYPE_CHECKING:
    from ..engine.results import ConvCost

BAR_WIDTH = 16  # cells; each cell has eight steps, so 128 steps a bar
MAX_ROWS = 12
_EIGHTHS = " ▏▎▍▌▋▊▉"
_FULL = "█"
_EMPTY = "░"


@dataclass(frozen=True)
class BlockRow:
    """One block's figure before and after (0 where it did not exist); for repeated blocks
    folded into one row, their sums, with each block as a member."""

    name: str  # the block's path, or the pattern of a folded row (``model.layers.*``)
    before: int
    after: int
    present_before: bool = True
    present_after: bool = True
    members: tuple[BlockRow, ...] = ()  # the blocks a folded row holds

    @property
    def change(self) -> FigureChange:
        return FigureChange("", self.before, self.after)

    @property
    def label(self) -> str:
        """``lm_head``; ``model.layers.* ×12`` for a folded row."""
        return layer_label(self.name, count=max(1, len(self.members)))


def bar(value: int, scale: int, width: int = BAR_WIDTH) -> str:
    """``value`` as a bar of ``width`` cells where ``scale`` fills them all.

    Integer arithmetic, rounded to the nearest eighth of a cell; a non-zero
    value never draws as empty, so a tiny block stays visible.
    """
    steps = 0 if scale <= 0 else (value * width * 8 + scale // 2) // scale
    if value > 0 and steps == 0:
        steps = 1
    full, part = divmod(min(steps, width * 8), 8)
    drawn = _FULL * full + (_EIGHTHS[part] if part else "")
    return drawn + _EMPTY * (width - len(drawn))


def block_rows(
    before: ConvCost, after: ConvCost, figure: str = "flops", depth: int | None = None, fold: bool = True
) -> list[BlockRow]:
    """Blocks in the new model's order, then blocks that went, in the old one's; the same blocks
    on both sides (:func:`.folding.block_key`), repeated ones folded into one row unless ``fold`` is off."""
    key = folding.block_key([before, after], depth)
    old = before.by_module(key=key)
    new = after.by_module(key=key)
    rows = [
        BlockRow(name, getattr(old[name], figure) if name in old else 0, getattr(module, figure), name in old, True)
        for name, module in new.items()
    ]
    rows += [BlockRow(name, getattr(module, figure), 0, True, False) for name, module in old.items() if name not in new]
    return [
        group.members[0] if not group.grouped else BlockRow(
            group.name, group.total(lambda row: row.before), group.total(lambda row: row.after),
            any(row.present_before for row in group.members), any(row.present_after for row in group.members),
            group.members,
        )
        for group in folding.fold(rows, lambda row: row.name, enabled=fold)
    ]


def top_level(rows: list[BlockRow]) -> bool:
    """Whether every row is a top-level block (the bars' heading says so)."""
    return all("." not in row.name for row in rows)


def fold_rows(rows: list[BlockRow], max_rows: int) -> tuple[list[BlockRow], list[BlockRow]]:
    """Keep the ``max_rows - 1`` blocks that changed most (in their order); fold the rest."""
    if len(rows) <= max_rows:
        return rows, []
    ranked = sorted(range(len(rows)), key=lambda i: (-abs(rows[i].after - rows[i].before), i))
    keep = set(ranked[: max_rows - 1])
    return [row for i, row in enumerate(rows) if i in keep], [row for i, row in enumerate(rows) if i not in keep]


def _change_text(row: BlockRow) -> str:
    if not row.present_before:
        return "new"
    if not row.present_after:
        return "gone"
    return percent_text(row.change)


def _cell(value: int, scale: int, present: bool) -> str:
    if not present:
        return "—"
    return f"`{bar(value, scale)}` {format_quantity(value)}"


def block_chart_lines(
    before: ConvCost, after: ConvCost, figure: str = "flops", max_rows: int = MAX_ROWS, depth: int | None = None,
    fold: bool = True,
) -> list[str]:
    """Markdown lines: a heading and a table of bars, one row per block (see :func:`block_rows`).

    ``figure`` is ``flops``, ``params`` or ``macs`` (per sample). Bars share
    one scale, the largest row before or after. At most ``max_rows`` rows:
    past that, the blocks that changed least are summed into a last row that
    says how many it holds. Both columns always add up to the totals row.
    """
    rows = block_rows(before, after, figure, depth, fold)
    shown, folded = fold_rows(rows, max_rows)
    label = FIGURE_LABELS[figure]
    scale = max([row.before for row in rows] + [row.after for row in rows] + [0])
    level = "top-level block" if top_level(rows) else "block"
    lines = [
        f"{label} per sample by {level}, before → after (bars to one scale):",
        "",
        "| block | before | after | change |",
        "| --- | --- | --- | --- |",
    ]
    for row in shown:
        lines.append(
            f"| {code_span(row.label)} | {_cell(row.before, scale, row.present_before)} | "
            f"{_cell(row.after, scale, row.present_after)} | {_change_text(row)} |"
        )
    if folded:
        rest = BlockRow("", sum(row.before for row in folded), sum(row.after for row in folded))
        lines.append(
            f"| … {len(folded)} more blocks, summed | {format_quantity(rest.before)} | "
            f"{format_quantity(rest.after)} | {percent_text(rest.change)} |"
        )
    total = BlockRow("", sum(row.before for row in rows), sum(row.after for row in rows))
    lines.append(
        f"| **total** | {format_quantity(total.before)} | {format_quantity(total.after)} | {percent_text(total.change)} |"
    )
    return lines
