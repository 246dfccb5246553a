"""Alternated timing and the rows of the benchmark table.

A figure in the table is always a ratio of two medians taken in one process
with the two sides interleaved (A, B, A, B, ...), after a warm-up of each.
Interleaving means a slow spell on a shared machine (another job, thermal
throttling, a page-cache flush) lands on both sides instead of faking a
result for one of them; the median then discards the odd outlier.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Plan:
    """How many interleaved pairs to take, bounded by a time budget.

    Rows differ by four orders of magnitude in cost (a meta profile of a tiny
    net against a ResNet-50 forward at batch 32), so a fixed repeat count is
    either wasteful or too noisy: the warm-up's duration picks the count.
    """

    min_pairs: int
    max_pairs: int
    budget_s: float

    def pairs_for(self, seconds_per_pair: float) -> int:
        """As many pairs as fit in the budget, never fewer than ``min_pairs``."""
        if seconds_per_pair <= 0:
            return self.max_pairs
        fitting = int(self.budget_s / seconds_per_pair)
        return max(self.min_pairs, min(self.max_pairs, fitting))


@dataclass(frozen=True)
class Pair:
    """Medians of the two sides of one row, in seconds, and the raw samples."""

    a_s: float
    b_s: float
    a_samples: tuple[float, ...]
    b_samples: tuple[float, ...]
    a_result: Any = field(default=None, repr=False, compare=False)
    b_result: Any = field(default=None, repr=False, compare=False)

    @property
    def pairs(self) -> int:
        return len(self.a_samples)


def time_once(function: Callable[[], Any]) -> tuple[float, Any]:
    """One timed call, after a collection so that garbage left by the other
    side is not charged to this one."""
    gc.collect()
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def alternate(side_a: Callable[[], Any], side_b: Callable[[], Any], plan: Plan, warmup: int = 1) -> Pair:
    """Warm both sides up, then time them interleaved; returns both medians.

    The warm-up absorbs one-off costs (lazy imports, allocator growth, the
    first call into a kernel) that a budget test pays once per session, not
    per measurement. The last result of each side is kept so callers can
    check counts without paying for another forward.
    """
    a_result = b_result = None
    a_warm = b_warm = 0.0
    for _ in range(max(1, warmup)):
        a_warm, a_result = time_once(side_a)
        b_warm, b_result = time_once(side_b)
    a_times: list[float] = []
    b_times: list[float] = []
    for _ in range(plan.pairs_for(a_warm + b_warm)):
        elapsed, a_result = time_once(side_a)
        a_times.append(elapsed)
        elapsed, b_result = time_once(side_b)
        b_times.append(elapsed)
    return Pair(
        a_s=statistics.median(a_times),
        b_s=statistics.median(b_times),
        a_samples=tuple(a_times),
        b_samples=tuple(b_times),
        a_result=a_result,
        b_result=b_result,
    )


@dataclass
class Row:
    """One line of the table: two measured sides, the figure, and its target.

    ``figure`` is what the target is checked against (a ratio for timings,
    megabytes for memory); ``a`` and ``b`` are the sides' medians in ``unit``.
    """

    name: str
    group: str
    a_label: str
    a: float
    b_label: str
    b: float
    unit: str
    figure: float
    figure_text: str
    target: str
    passed: bool
    samples: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ms(seconds: float) -> float:
    """Seconds to milliseconds, rounded for a readable JSON file."""
    return round(seconds * 1000.0, 4)


def at_most(name: str, group: str, pair: Pair, labels: tuple[str, str], limit: float, note: str = "") -> Row:
    """A row whose figure is A / B and must not exceed ``limit`` (an overhead)."""
    ratio = pair.a_s / pair.b_s
    return Row(
        name=name, group=group,
        a_label=labels[0], a=ms(pair.a_s), b_label=labels[1], b=ms(pair.b_s), unit="ms",
        figure=round(ratio, 4), figure_text=f"{ratio:.3f}x", target=f"<= {limit:g}x",
        passed=ratio <= limit, samples=pair.pairs, note=note,
    )


def speedup(name: str, group: str, pair: Pair, labels: tuple[str, str], floor: float, strict: bool = False, note: str = "") -> Row:
    """A row whose figure is B / A, how many times faster A is (a lead)."""
    ratio = pair.b_s / pair.a_s
    passed = ratio > floor if strict else ratio >= floor
    return Row(
        name=name, group=group,
        a_label=labels[0], a=ms(pair.a_s), b_label=labels[1], b=ms(pair.b_s), unit="ms",
        figure=round(ratio, 4), figure_text=f"{ratio:.2f}x faster",
        target=f"{'>' if strict else '>='} {floor:g}x faster",
        passed=passed, samples=pair.pairs, note=note,
    )
