"""The one-line verdict that tops every format: the terminal, ``diff``, the PR comment and JSON.

Written once, here, so the plugin and ``diff`` can never word the same
verdict differently.
"""

from __future__ import annotations

from ..ci.verdict import RunReport


def problems(report: RunReport) -> list[str]:
    """What is wrong, in the order the comment lists it: overruns, then regressions."""
    found = []
    if report.over_budget:
        found.append(f"{len(report.over_budget)} over budget" + ("" if report.enforcement == "fail" else f" ({report.enforcement})"))
    if report.regressions:
        found.append(f"{len(report.regressions)} grew past the allowed increase")
    if report.mismatched:
        found.append(f"{len(report.mismatched)} counted with other kinds than the baseline")
    return found


def headline(report: RunReport) -> str:
    """``0 of 10 measurements changed, 0 new, 0 removed; 1 over budget``, and the like."""
    counts = report.counts
    wrong = problems(report)
    if report.comparison is None:
        over = wrong[0] if report.over_budget else "0 over budget"
        return f"{counts.measurements} measurements, {over}; no baseline to compare with"
    if not (wrong or counts.changed or counts.added or counts.removed):
        return f"no change in {counts.measurements} measurements"
    return (
        f"{counts.changed} of {counts.measurements} measurements changed, {counts.added} new, "
        f"{counts.removed} removed; {', '.join(wrong) or 'all within limits'}"
    )
