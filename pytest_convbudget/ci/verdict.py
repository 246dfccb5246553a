"""The one judgement of a run: what is over budget, what grew past the gate, what changed.

Both the plugin's gate and ``diff`` build a :class:`RunReport` with
:func:`build_report`, and every output format renders that same object, so
the same two run files and the same configuration give the same verdict,
text and exit status wherever they are compared. No prose lives here: the
renderers (``render.outputs.OUTPUTS``, in the words of ``render.phrases``) own every word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..budgets.pyproject import PatternBudget, Settings
from ..words.vocabulary import CHANGED, NEW, NOT_COMPARED, UNCHANGED
from .compare import Comparison, CountMismatch, Regression, compare_runs
from .ending import Ending
from .runfile import RunEntry, RunFile

if TYPE_CHECKING:
    from ..budgets.measurement import Measurement


# Where a measurement stands against the baseline: NEW, CHANGED, UNCHANGED, NOT_COMPARED (shared words).

# RunReport.status, most serious first.
FAILED, INCOMPLETE, WARNED, CHANGED_WITHIN, NO_CHANGE, NO_BASELINE = (
    "failed", "incomplete", "warned", "changed", "no change", "no baseline"
)
DRIFT_KEYS = ("torch", "python", "pytest_convbudget", "cost_model_version")  # what a baseline names when it differs


@dataclass(frozen=True)
class Drift:
    """A version the baseline was made with that this run does not share (figures may differ for it)."""

    what: str  # one of DRIFT_KEYS
    baseline: str
    run: str


def drift_between(baseline: RunFile, head: RunFile) -> tuple[Drift, ...]:
    """The versions (torch, Python, pytest-convbudget, cost model) that differ between two runs;
    a version either file does not record is not compared."""
    found = []
    for key in DRIFT_KEYS:
        if key == "cost_model_version":
            before, after = str(baseline.cost_model_version), str(head.cost_model_version)
        else:
            before, after = baseline.environment.get(key, "unknown"), head.environment.get(key, "unknown")
        if "unknown" not in (before, after) and before != after:
            found.append(Drift(key, before, after))
    return tuple(found)


@dataclass(frozen=True)
class GatePolicy:
    """What the gate allows: growth per test (command line, pattern, table) and how budgets are enforced."""

    max_increase: float | None = None  # the table's default
    patterns: tuple[PatternBudget, ...] = ()
    override: float | None = None  # the command line's, beats the table and its patterns
    enforcement: str = "fail"

    @classmethod
    def from_settings(cls, settings: Settings, override: float | None = None, enforcement: str = "fail") -> GatePolicy:
        return cls(settings.max_increase, tuple(settings.patterns), override, enforcement)


@dataclass(frozen=True)
class BudgetFailure:
    """A measurement of this run over one or more of its limits, and how it stands against the baseline."""

    entry: RunEntry
    standing: str  # NEW, CHANGED, UNCHANGED or NOT_COMPARED

    @property
    def measurement(self) -> Measurement:
        return self.entry.measurement


@dataclass(frozen=True)
class Counts:
    measurements: int
    changed: int = 0
    unchanged: int = 0
    added: int = 0
    removed: int = 0
    over_budget: int = 0
    regressions: int = 0
    mismatched: int = 0  # counted with other op kinds than the baseline: refused
    not_run: int = 0  # baseline measurements whose tests did not run here (a shard): neither removed nor gated


@dataclass(frozen=True)
class RunReport:
    """Everything a report needs, in every format: built once, rendered many times."""

    entries: tuple[RunEntry, ...]  # this run's measurements, with their limits
    comparison: Comparison | None  # None without a baseline
    regressions: tuple[Regression, ...]
    over_budget: tuple[BudgetFailure, ...]
    enforcement: str = "fail"
    baseline_label: str | None = None
    baseline_commit: str | None = None  # the commit the baseline's run measured ($GITHUB_SHA there)
    page_url: str | None = None  # where the HTML page of this report is published (diff --page-url)
    fold: bool = True  # repeated blocks shown as one row (fold in [tool.convbudget]; --conv-no-fold, diff --no-fold)
    depth: int | None = None  # where blocks stop (depth; --conv-depth, diff --depth); None: descend through a dominant one
    incomplete: tuple[Ending, ...] = ()  # the sessions of this run that ended early: every output leads with them
    drift: tuple[Drift, ...] = ()  # versions the baseline was made with that this run does not share

    @property
    def counts(self) -> Counts:
        comparison = self.comparison
        if comparison is None:
            return Counts(len(self.entries), over_budget=len(self.over_budget), regressions=len(self.regressions))
        return Counts(
            measurements=len(comparison.changes) + len(comparison.added) + len(comparison.mismatched),
            changed=len(comparison.changed),
            unchanged=len(comparison.unchanged),
            added=len(comparison.added),
            removed=len(comparison.removed),
            over_budget=len(self.over_budget),
            regressions=len(self.regressions),
            mismatched=len(comparison.mismatched),
            not_run=len(comparison.not_run),
        )

    @property
    def outweighed(self) -> tuple[Measurement, ...]:
        """Budgeted measurements whose uncounted work outweighs their counted work."""
        return tuple(entry.measurement for entry in self.entries if entry.measurement.outweighed)

    @property
    def standings(self) -> dict[tuple[str, str], str]:
        """How each measurement stands against the baseline; empty without one."""
        return standings(self.comparison)

    @property
    def budget_fails(self) -> bool:
        return bool(self.over_budget) and self.enforcement == "fail"

    @property
    def mismatched(self) -> tuple[CountMismatch, ...]:
        return self.comparison.mismatched if self.comparison is not None else ()

    @property
    def failed(self) -> bool:
        """The verdict: a regression, a measurement the baseline counted with other
        kinds, or an overrun under ``--conv-budget=fail``, fails."""
        return bool(self.regressions) or bool(self.mismatched) or self.budget_fails

    @property
    def status(self) -> str:
        if self.failed:
            return FAILED
        if self.incomplete:  # never "no change" for a run that measured less than its suite
            return INCOMPLETE
        if self.over_budget and self.enforcement == "warn":
            return WARNED
        if self.comparison is None:
            return NO_BASELINE
        counts = self.counts
        if counts.changed or counts.added or counts.removed:
            return CHANGED_WITHIN
        return NO_CHANGE


def standings(comparison: Comparison | None) -> dict[tuple[str, str], str]:
    """Each measurement of the run against the baseline: NEW, CHANGED, UNCHANGED, or
    NOT_COMPARED when the baseline counted it with other kinds. Worked out here only:
    the verdict and the page both read it."""
    if comparison is None:
        return {}
    found = {change.after.key: CHANGED if change.changed else UNCHANGED for change in comparison.changes}
    found.update({entry.key: NEW for entry in comparison.added})
    found.update({mismatch.after.key: NOT_COMPARED for mismatch in comparison.mismatched})
    return found


def build_report(
    head: RunFile, baseline: RunFile | None, policy: GatePolicy, baseline_label: str | None = None
) -> RunReport:
    """The one place a run is judged: the plugin's gate and ``diff`` both call this."""
    comparison = compare_runs(baseline, head) if baseline is not None else None
    regressions: tuple[Regression, ...] = ()
    if comparison is not None:
        regressions = tuple(comparison.regressions(policy.max_increase, policy.patterns, policy.override))
    standing = standings(comparison)
    over = tuple(
        BudgetFailure(entry, standing.get(entry.key, NOT_COMPARED))
        for entry in head.entries
        if entry.measurement.over_budget
    )
    return RunReport(
        entries=tuple(head.entries),
        comparison=comparison,
        regressions=regressions,
        over_budget=over if policy.enforcement != "off" else (),
        enforcement=policy.enforcement,
        baseline_label=baseline_label,
        baseline_commit=baseline.environment.get("commit") if baseline is not None else None,
        incomplete=head.incomplete,
        drift=drift_between(baseline, head) if baseline is not None else (),
    )
