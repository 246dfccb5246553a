"""Repeated blocks folded, and where a model's blocks stop: the one place every format groups names.

Rows that differ only by an index (``layers.0.mlp.fc1`` ... ``layers.11.mlp.fc1``) read
as one row, ``layers.*.mlp.fc1 ×12``, with the group's total. A group forms only from two
or more rows whose names match once each all-digit part of the path is written ``*``
(:func:`pattern`); see :func:`fold` for the rest. The caller says what else must match
(a call's number, a layer's status), and with ``enabled=False`` every row stays its own.

Where the blocks stop (the comment's bars, the page's first level, the terminal's
``--conv-depth`` table): at a fixed depth, or by default at the top level, descending
through any block that holds nearly all the cost (:data:`NEARLY_ALL_PERCENT`), so a causal
LM (``model`` 99%, ``lm_head``) is shown as ``model.layers.*``, ``lm_head`` and the rest.

Pure functions over names and figures: no sentence here (a group's words are
:func:`.phrases.layer_label`'s), no markup, nothing of a format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Callable,
    Generic,
    Hashable,
    Iterable,
    Sequence,
    TypeVar,
)

if TYPE_CHECKING:
    from ..budgets.measurement import Measurement
    from ..ci.compare import LayerChange, Regression
    from ..engine.results import ConvCost, LayerCost

T = TypeVar("T")

INDEX = re.compile(r"[0-9]+")
ANY_INDEX = "*"
NEARLY_ALL_PERCENT = 90  # a block holding at least this share of a model's FLOPs is opened
MAX_BLOCKS = 12  # ...unless its blocks, repeated ones folded, would be more rows than this
GROWN = ("grown", "added")  # the statuses of a layer that says where a measurement grew


def pattern(name: str) -> str:
    """``layers.3.mlp.fc1`` -> ``layers.*.mlp.fc1``: each all-digit part of the path as ``*``."""
    return ".".join(ANY_INDEX if INDEX.fullmatch(part) else part for part in name.split("."))


@dataclass(frozen=True)
class Folded(Generic[T]):
    """Rows shown as one: the shared pattern and its members, or one row under its own name."""

    name: str  # ``layers.*.mlp.fc1`` for a group, the row's own name for one row
    members: tuple[T, ...]

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def grouped(self) -> bool:
        return len(self.members) > 1

    def total(self, value: Callable[[T], int]) -> int:
        return sum(value(member) for member in self.members)


def _nothing(item: object) -> Hashable:
    return None


def fold(
    items: Iterable[T], name: Callable[[T], str], apart: Callable[[T], Hashable] = _nothing, enabled: bool = True
) -> list[Folded[T]]:
    """``items`` grouped where their names differ only by an index, in the order each group's
    first member came; off (``enabled=False``), or for a name no other row shares, a row stays
    itself under its own name.

    Rows fold when their names match with each all-digit part written ``*`` (:func:`pattern`), and
    ``apart`` (a call's number, a layer's status) matches too; a pattern of indices alone (a
    ``Sequential``'s ``0`` and ``1``) names nothing, so it folds nothing. Where names hold several
    indices (``features.2.conv.0.0``), the one that varies over the fewest groups is the repeat
    (``features.*.conv.0.0 ×16``, the same layer of each block), and the others stay as they are.
    """
    items = list(items)
    names = [name(item) for item in items]
    if not enabled:
        return [Folded(names[index], (item,)) for index, item in enumerate(items)]
    buckets: dict[tuple[str, Hashable], list[int]] = {}
    for index, item in enumerate(items):
        shared = pattern(names[index])
        if shared.strip(f".{ANY_INDEX}"):
            buckets.setdefault((shared, apart(item)), []).append(index)
    keys: dict[int, tuple[object, ...]] = {}
    for (_, kept), members in buckets.items():
        if len(members) < 2:
            continue
        parts = names[members[0]].split(".")
        indices = [place for place, part in enumerate(parts) if INDEX.fullmatch(part)]
        by_place = {place: {index: _any_at(names[index], place) for index in members} for place in indices}
        place = min(indices, key=lambda place: len(set(by_place[place].values())))
        keys.update({index: (0, label, kept) for index, label in by_place[place].items()})
    groups: dict[tuple[object, ...], list[int]] = {}
    for index in range(len(items)):
        groups.setdefault(keys.get(index, (1, index)), []).append(index)
    return [
        Folded(str(key[1]) if len(members) > 1 else names[members[0]], tuple(items[index] for index in members))
        for key, members in groups.items()
    ]


def _any_at(name: str, place: int) -> str:
    """``name`` with its ``place``-th part written ``*``."""
    parts = name.split(".")
    parts[place] = ANY_INDEX
    return ".".join(parts)


# -- layers, calls and changes ------------------------------------------------------


def fold_calls(layers: Iterable[LayerCost], enabled: bool = True) -> list[Folded[LayerCost]]:
    """A profile's calls: the N-th calls of repeated modules fold together (``layers.*.attn, call 2 ×12``)."""
    return fold(layers, lambda layer: layer.name, lambda layer: layer.call, enabled)


def costliest(measurement: Measurement, count: int, enabled: bool = True) -> list[tuple[Folded[LayerCost], int]]:
    """The ``count`` costliest rows by the measurement's costliest figure, repeated calls folded
    and ranked by their group's total; ties keep the model's order."""
    figure = measurement.costliest_figure
    groups = [(group, group.total(lambda layer: getattr(layer, figure))) for group in fold_calls(measurement.cost.layers, enabled)]
    return sorted(groups, key=lambda pair: -pair[1])[:count]


def fold_changes(layers: Iterable[LayerChange], enabled: bool = True) -> list[Folded[LayerChange]]:
    """Changed layers: only rows of one status fold together."""
    return fold(layers, lambda layer: layer.name, lambda layer: layer.status, enabled)


def grown(regression: Regression, enabled: bool = True) -> list[Folded[LayerChange]]:
    """Where a measurement grew: its grown and added layers, folded."""
    return fold_changes((layer for layer in regression.change.layers if layer.status in GROWN), enabled)


def shared_growth(regressions: Sequence[Regression], enabled: bool = True) -> list[list[Regression]]:
    """Regressions that grew in the same layers (folded) past the same allowance, grouped in the
    order of their first: one line of the comment says the layers once for all of them."""
    groups: dict[tuple[object, ...], list[Regression]] = {}
    for regression in regressions:
        layers = tuple((group.name, group.count, group.members[0].status) for group in grown(regression, enabled))
        groups.setdefault((regression.allowed, layers), []).append(regression)
    return list(groups.values())


def change_totals(group: Folded[LayerChange], figure: str = "flops") -> tuple[int, int]:
    """A group's figure before and after, summed over its members (0 where a member did not exist)."""
    before = sum(getattr(layer.before, figure) for layer in group.members if layer.before is not None)
    after = sum(getattr(layer.after, figure) for layer in group.members if layer.after is not None)
    return before, after


# -- where the blocks stop ---------------------------------------------------------


def block_of(name: str, depth: int | None, opened: frozenset[str] = frozenset()) -> str:
    """The block a layer belongs to: its first ``depth`` path parts, or (``depth`` None) its
    top-level part, one part deeper for each opened block it sits in."""
    parts = name.split(".")
    if depth is not None:
        return ".".join(parts[:depth])
    cut = 1
    while cut < len(parts) and ".".join(parts[:cut]) in opened:
        cut += 1
    return ".".join(parts[:cut])


def opened_blocks(
    values: Sequence[tuple[str, int]], percent: int = NEARLY_ALL_PERCENT, max_blocks: int = MAX_BLOCKS
) -> frozenset[str]:
    """The blocks to descend through: again and again, the one block that holds at least
    ``percent`` of the total and has layers below it, as long as the blocks, repeated ones
    folded, stay at most ``max_blocks`` rows. ``values`` are (layer name, FLOPs)."""
    total = sum(value for _, value in values)
    opened: frozenset[str] = frozenset()
    while total > 0:
        sums: dict[str, int] = {}
        deeper: set[str] = set()
        for name, value in values:
            block = block_of(name, None, opened)
            sums[block] = sums.get(block, 0) + value
            if block != name:
                deeper.add(block)
        big = [block for block, value in sums.items() if block in deeper and value * 100 >= total * percent]
        if not big:
            break
        wider = opened | {big[0]}
        if len(fold({block_of(name, None, wider) for name, _ in values}, str)) > max_blocks:
            break
        opened = wider
    return opened


def block_key(costs: Sequence[ConvCost], depth: int | None) -> Callable[[str], str]:
    """Where the blocks of these profiles (a model before and after) stop, as a layer name -> block name."""
    opened = frozenset() if depth is not None else opened_blocks(
        [(layer.name, layer.flops) for cost in costs for layer in cost.layers]
    )
    return lambda name: block_of(name, depth, opened)
