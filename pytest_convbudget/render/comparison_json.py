"""The comparison JSON (``diff --format json``, ``--conv-comparison-json``): a run report for scripts,
with exact integers, the verdict, and what each finding is. Not the run file: that holds every
measurement (``ci.runfile``); this holds the judgement of one run against its baseline."""

from __future__ import annotations

import json
from typing import Any

from ..ci.compare import MeasurementChange
from ..ci.verdict import RunReport
from .phrases import headline, mismatch_text, regression_text


def _figures(change: MeasurementChange) -> dict[str, Any]:
    return {f.figure: {"before": f.before, "after": f.after, "delta": f.delta} for f in change.figures}


def _flops_by_kind(change: MeasurementChange) -> dict[str, dict[str, int]]:
    return {kind: {"before": before, "after": after} for kind, (before, after) in change.flops_by_kind().items()}


def comparison_data(report: RunReport) -> dict[str, Any]:
    counts = report.counts
    comparison = report.comparison
    data: dict[str, Any] = {
        "status": report.status,
        "failed": report.failed,
        "headline": headline(report),
        "counts": {name: getattr(counts, name) for name in counts.__dataclass_fields__},
        "over_budget": [
            {
                "test_id": failure.measurement.test_id,
                "name": failure.measurement.name,
                "standing": failure.standing,
                "overruns": [
                    {"figure": o.figure, "value": o.value, "limit": o.limit.value, "source": o.limit.source}
                    for o in failure.measurement.overruns
                ],
            }
            for failure in report.over_budget
        ],
        "regressions": [regression_text(r) for r in report.regressions],
        "mismatched": [
            {"test_id": m.after.measurement.test_id, "name": m.after.measurement.name,
             "baseline_count": list(m.before.measurement.cost.count), "count": list(m.after.measurement.cost.count),
             "message": mismatch_text(m)}
            for m in report.mismatched
        ],
    }
    if comparison is not None:
        data.update({
            "changed": [
                {"test_id": c.test_id, "name": c.name, "count": list(c.after.measurement.cost.count),
                 "flops_by_kind": _flops_by_kind(c), "figures": _figures(c),
                 "layers": [{"name": layer.name, "status": layer.status} for layer in c.layers]}
                for c in comparison.changed
            ],
            "unchanged": len(comparison.unchanged),
            "added": [{"test_id": e.measurement.test_id, "name": e.measurement.name,
                       "count": list(e.measurement.cost.count)} for e in comparison.added],
            "removed": [{"test_id": e.measurement.test_id, "name": e.measurement.name} for e in comparison.removed],
            "not_run": [{"test_id": e.measurement.test_id, "name": e.measurement.name} for e in comparison.not_run],
        })
    return data


def render_comparison_json(report: RunReport) -> str:
    """Names stay exact data; ``ensure_ascii`` (on by default, keep it) writes every control, bidi and
    other non-ASCII character as a ``\\u`` escape, so the raw text can be printed or pasted safely."""
    return json.dumps(comparison_data(report), indent=2, sort_keys=True) + "\n"
