"""Compare a run with a baseline: what grew, what shrank, what is new or gone.

Measurements are matched by (test id, name); layers by qualified module name,
with all calls of a module added up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..budgets.limits import measured_value
from ..budgets.pyproject import PatternBudget, matching_patterns
from ..engine.results import ConvCost, LayerCost, ModuleCost
from ..words.vocabulary import FIGURES, SIZE_FIGURES
from .runfile import RunEntry, RunFile


@dataclass(frozen=True)
class FigureChange:
    figure: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before

    @property
    def percent(self) -> float:
        """Change in percent; infinite when a figure grows from zero."""
        if self.before == 0:
            return 0.0 if self.after == 0 else float("inf")
        return 100.0 * self.delta / self.before


@dataclass(frozen=True)
class LayerChange:
    name: str
    before: ModuleCost | None
    after: ModuleCost | None

    @property
    def status(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        before = (self.before.flops, self.before.params)
        after = (self.after.flops, self.after.params)
        return "grown" if after > before else "shrunk"

    def flops(self) -> FigureChange:
        return FigureChange(
            "flops", self.before.flops if self.before else 0, self.after.flops if self.after else 0
        )


@dataclass(frozen=True)
class MeasurementChange:
    before: RunEntry
    after: RunEntry
    figures: tuple[FigureChange, ...]
    layers: tuple[LayerChange, ...]

    @property
    def test_id(self) -> str:
        return self.after.measurement.test_id

    @property
    def name(self) -> str:
        return self.after.measurement.name

    @property
    def changed(self) -> bool:
        return any(change.delta for change in self.figures) or bool(self.layers)

    def figure(self, name: str) -> FigureChange:
        return next(change for change in self.figures if change.figure == name)

    def compares(self, name: str) -> FigureChange | None:
        """The figure's change where it is compared (a size figure only where budgeted), else None."""
        return next((change for change in self.figures if change.figure == name), None)

    def flops_by_kind(self) -> dict[str, tuple[int, int]]:
        """Per-sample FLOPs of each counted kind, before and after. (Both sides counted the
        same kinds: a measurement counted with other kinds is a mismatch, never a change.)"""
        before = self.before.measurement.cost.by_kind()
        return {
            kind: (before[kind].flops if kind in before else 0, share.flops)
            for kind, share in self.after.measurement.cost.by_kind().items()
        }


@dataclass(frozen=True)
class Regression:
    """A measurement that grew by more than its allowed percentage in one or more figures."""

    change: MeasurementChange
    figures: tuple[FigureChange, ...]  # every figure over the allowance
    allowed: float

    def grown_layers(self, count: int = 3) -> list[str]:
        """The first layers that grew or were added: where to look."""
        return [layer.name for layer in self.change.layers if layer.status in ("grown", "added")][:count]


@dataclass(frozen=True)
class CountMismatch:
    """A measurement the baseline counted with other op kinds: its figures mean other things,
    so it is refused, never compared."""

    before: RunEntry
    after: RunEntry


@dataclass(frozen=True)
class Comparison:
    changes: tuple[MeasurementChange, ...]  # every matched measurement, changed or not
    added: tuple[RunEntry, ...]
    removed: tuple[RunEntry, ...]
    mismatched: tuple[CountMismatch, ...] = ()
    not_run: tuple[RunEntry, ...] = ()  # baseline measurements of tests this run did not run (a shard, -k)

    @property
    def changed(self) -> list[MeasurementChange]:
        return [change for change in self.changes if change.changed]

    @property
    def unchanged(self) -> list[MeasurementChange]:
        return [change for change in self.changes if not change.changed]

    def regressions(
        self, max_increase: float | None, patterns: Sequence[PatternBudget] = (), override: float | None = None
    ) -> list[Regression]:
        """Measurements over their allowed growth: ``override`` (the command line) beats
        the most specific matching pattern, which beats the table-wide ``max_increase``."""
        found = []
        for change in self.changes:
            allowed = allowed_increase(change.test_id, max_increase, patterns, override)
            if allowed is None:
                continue
            over = tuple(figure for figure in change.figures if figure.percent > allowed)
            if over:
                found.append(Regression(change, over, allowed))
        return found

    def stale(self, threshold: float = 0.0) -> list[tuple[MeasurementChange, FigureChange]]:
        """Figures that fell: the baseline no longer describes the model."""
        return [
            (change, figure)
            for change in self.changes
            for figure in change.figures
            if figure.delta < 0 and -figure.percent > threshold
        ]


def allowed_increase(
    test_id: str, max_increase: float | None, patterns: Sequence[PatternBudget], override: float | None
) -> float | None:
    if override is not None:
        return override
    hits = [p for p in matching_patterns(test_id, patterns) if p.max_increase is not None]
    return hits[0].max_increase if hits else max_increase


def compare_runs(baseline: RunFile, head: RunFile) -> Comparison:
    before = baseline.by_key()
    after = head.by_key()
    matched = [(before[key], entry) for key, entry in after.items() if key in before]
    layers = _LayerComparer()  # a model measured by many tests is compared once
    changes = tuple(compare_entries(old, new, layers) for old, new in matched if _same_kinds(old, new))
    mismatched = tuple(CountMismatch(old, new) for old, new in matched if not _same_kinds(old, new))
    added = tuple(entry for key, entry in after.items() if key not in before)
    missing = [entry for key, entry in before.items() if key not in after]
    coverage = head.coverage
    removed = tuple(e for e in missing if coverage is None or coverage.could_measure(e.measurement.test_id))
    not_run = tuple(e for e in missing if coverage is not None and not coverage.could_measure(e.measurement.test_id))
    return Comparison(changes=changes, added=added, removed=removed, mismatched=mismatched, not_run=not_run)


def _same_kinds(before: RunEntry, after: RunEntry) -> bool:
    return before.measurement.cost.count == after.measurement.cost.count


def compare_entries(before: RunEntry, after: RunEntry, layers: _LayerComparer | None = None) -> MeasurementChange:
    per = after.measurement.per
    figures = tuple(
        FigureChange(
            figure,
            measured_value(before.measurement.cost, figure, per),
            measured_value(after.measurement.cost, figure, per),
        )
        for figure in (*FIGURES, *_budgeted_sizes(before, after))
    )
    return MeasurementChange(before, after, figures, (layers or compare_layers)(before, after))


def compared_sizes(changes: Sequence[MeasurementChange]) -> tuple[str, ...]:
    """The size and memory figures any of these changes compares: the columns a table of them adds."""
    present = {figure.figure for change in changes for figure in change.figures}
    return tuple(figure for figure in SIZE_FIGURES if figure in present)


def _budgeted_sizes(before: RunEntry, after: RunEntry) -> tuple[str, ...]:
    """The size and memory figures compared: those the measurement budgets now, where both
    runs measured them. An unbudgeted one never gates: a baseline of conv figures stays one."""
    budgeted = {limit.figure for limit in after.measurement.limits}
    return tuple(
        figure for figure in SIZE_FIGURES
        if figure in budgeted and None not in (measured_value(before.measurement.cost, figure, "sample"),
                                               measured_value(after.measurement.cost, figure, "sample"))
    )


def compare_layers(before: RunEntry, after: RunEntry) -> tuple[LayerChange, ...]:
    old_cost, new_cost = before.measurement.cost, after.measurement.cost
    if old_cost.layers is new_cost.layers:  # one shared table (engine.results.shared): nothing moved
        return ()
    return _changed_modules(old_cost.by_module(), new_cost.by_module())


def _changed_modules(old: dict[str, ModuleCost], new: dict[str, ModuleCost]) -> tuple[LayerChange, ...]:
    names = list(new) + [name for name in old if name not in new]
    return tuple(
        LayerChange(name, old.get(name), new.get(name))
        for name in names
        if _module_figures(old.get(name)) != _module_figures(new.get(name))
    )


class _LayerComparer:
    """:func:`compare_layers` for one comparison of many measurements: thousands of tests measure a
    few models, so each pair of layer tables is compared once, each table summed once."""

    def __init__(self) -> None:
        self._sums: dict[int, tuple[tuple[LayerCost, ...], dict[str, ModuleCost]]] = {}
        self._pairs: dict[tuple[int, int], tuple[LayerChange, ...]] = {}

    def __call__(self, before: RunEntry, after: RunEntry) -> tuple[LayerChange, ...]:
        old, new = before.measurement.cost, after.measurement.cost
        if old.layers is new.layers:
            return ()
        pair = (id(old.layers), id(new.layers))  # the tables are alive as long as the run files are
        if pair not in self._pairs:
            self._pairs[pair] = _changed_modules(self._by_module(old), self._by_module(new))
        return self._pairs[pair]

    def _by_module(self, cost: ConvCost) -> dict[str, ModuleCost]:
        found = self._sums.get(id(cost.layers))
        if found is None:  # kept with its table, so the id cannot be another table's
            found = self._sums[id(cost.layers)] = (cost.layers, cost.by_module())
        return found[1]


def _module_figures(module: ModuleCost | None) -> tuple[int, int, int] | None:
    return None if module is None else (module.params, module.flops, module.macs)
