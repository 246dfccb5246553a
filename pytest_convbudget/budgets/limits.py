"""Which limits apply to a measurement, and how it compares with them.

Precedence, per figure: a marker naming the measurement, then an unnamed
marker (closest to the test first), then the most specific matching pattern
of ``[tool.convbudget.budgets]``, then the table's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from ..words.vocabulary import BUDGET_FIGURES, SIZE_FIELDS
from .marker import BudgetMark
from .pyproject import Limit, Settings, matching_patterns

if TYPE_CHECKING:
    from ..engine.results import ConvCost



def resolve_limits(test_id: str, name: str, marks: Sequence[BudgetMark], settings: Settings) -> dict[str, Limit]:
    """The winning limit for each figure that has one."""
    named = [mark for mark in marks if mark.name == name]
    unnamed = [mark for mark in marks if mark.name is None]
    layers: list[tuple[Limit, ...]] = [mark.limits() for mark in (*named, *unnamed)]
    layers += [pattern.limits for pattern in matching_patterns(test_id, settings.patterns)]
    layers.append(settings.defaults)
    chosen: dict[str, Limit] = {}
    for limits in layers:
        for limit in limits:
            chosen.setdefault(limit.figure, limit)
    return {figure: chosen[figure] for figure in BUDGET_FIGURES if figure in chosen}


def resolve_per(name: str, marks: Sequence[BudgetMark], settings: Settings) -> tuple[str, str]:
    """What FLOPs and MACs limits cover, and where that was said: a marker naming the
    measurement, then an unnamed one, then the table."""
    for mark in (*(m for m in marks if m.name == name), *(m for m in marks if m.name is None)):
        if mark.per is not None:
            return mark.per, f"per={mark.per!r} in {mark.source}"
    return settings.per, f"[tool.convbudget] per = {settings.per!r} in {settings.label}"


def measured_value(cost: ConvCost, figure: str, per: str) -> int | None:
    """The figure a budget compares: per sample, for the whole batch with per='batch', or per
    token (the whole batch's over its tokens) with per='token'.
    The size figures are the model's, and the activations the whole batch's, whatever ``per``
    is; None where the cost has none (a run file written before they were measured)."""
    if figure in SIZE_FIELDS:
        return getattr(cost, SIZE_FIELDS[figure])
    if figure != "params" and per == "token" and cost.tokens:
        # rounded up: the figure is over a whole-number limit exactly when the total is over limit x tokens
        return -(-getattr(cost, f"total_{figure}") // cost.tokens)
    if figure == "params" or per in ("sample", "token"):
        return getattr(cost, figure)
    return getattr(cost, f"total_{figure}")


@dataclass(frozen=True)
class Overrun:
    """One figure over its limit."""

    figure: str
    value: int
    limit: Limit

    @property
    def percent_over(self) -> float:
        return float("inf") if self.limit.value == 0 else 100.0 * (self.value - self.limit.value) / self.limit.value


def overruns(cost: ConvCost, limits: dict[str, Limit], per: str) -> list[Overrun]:
    measured = {figure: measured_value(cost, figure, per) for figure in limits}
    return [
        Overrun(figure, value, limits[figure])
        for figure, value in measured.items()
        if value is not None and value > limits[figure].value
    ]


def headroom(cost: ConvCost, limits: dict[str, Limit], per: str) -> float | None:
    """The smallest spare fraction of any limit, in percent (negative when over)."""
    measured = {figure: measured_value(cost, figure, per) for figure in limits}
    spares = [
        100.0 * (limit.value - value) / limit.value
        for figure, limit in limits.items()
        if limit.value > 0 and (value := measured[figure]) is not None
    ]
    return min(spares) if spares else None
