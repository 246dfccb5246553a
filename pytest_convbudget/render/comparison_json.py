"""The comparison JSON (``diff --format json``, ``--conv-comparison-json``): a run report for scripts,
with exact integers, the verdict, and what each finding is. Not the run file: that holds every
measurement (``ci.runfile``); this holds the judgement of one run against its baseline.

Every field is data: each finding is an object with its figures before and after, its limits and
its percentages, so a script never parses a sentence. The one sentence is ``headline``, the verdict
line every format shares; the rest of the prose lives in the other renderers. The shape is
``comparison.schema.json``, shipped beside this module (:func:`comparison_schema`).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..budgets.limits import measured_value
from ..ci.compare import FigureChange, LayerChange, MeasurementChange
from ..ci.verdict import RunReport
from ..words.vocabulary import BUDGET_FIGURES
from .phrases import headline

if TYPE_CHECKING:
    from ..budgets.limits import Overrun
    from ..ci.compare import CountMismatch, Regression
    from ..ci.runfile import RunEntry
    from ..ci.verdict import BudgetFailure
    from ..engine.results import ModuleCost

SCHEMA = "pytest-convbudget/comparison"
SCHEMA_VERSION = 2
SCHEMA_FILE = "comparison.schema.json"
PERCENT_DIGITS = 4  # percentages are rounded to this many decimals


@lru_cache(maxsize=1)
def comparison_schema() -> dict[str, Any]:
    """The shipped comparison-JSON schema (JSON Schema, draft 2020-12)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def _percent(value: float) -> float | None:
    """A percentage as strict JSON: rounded, or null where it is infinite (growth from zero)."""
    return round(value, PERCENT_DIGITS) if math.isfinite(value) else None


def _key(entry: RunEntry) -> dict[str, Any]:
    measurement = entry.measurement
    return {"test_id": measurement.test_id, "name": measurement.name}


def _values(entry: RunEntry) -> dict[str, int | None]:
    """A measurement's figures as its budgets compare them (FLOPs and MACs per sample, or per
    batch), and its size and memory (None where its run file has none)."""
    measurement = entry.measurement
    return {figure: measured_value(measurement.cost, figure, measurement.per) for figure in BUDGET_FIGURES}


def _measured(entry: RunEntry) -> dict[str, Any]:
    """A measurement that stands alone (new, removed, not run): its kinds and its figures."""
    measurement = entry.measurement
    return {**_key(entry), "per": measurement.per, "count": list(measurement.cost.count), "figures": _values(entry)}


def _figure_change(change: FigureChange) -> dict[str, Any]:
    return {"figure": change.figure, "before": change.before, "after": change.after, "delta": change.delta,
            "percent": _percent(change.percent)}


def _module(module: ModuleCost | None) -> dict[str, int] | None:
    return None if module is None else {"params": module.params, "flops": module.flops, "macs": module.macs}


def _layer(layer: LayerChange) -> dict[str, Any]:
    return {"name": layer.name, "status": layer.status, "before": _module(layer.before), "after": _module(layer.after)}


def _changed(change: MeasurementChange) -> dict[str, Any]:
    return {
        **_key(change.after),
        "per": change.after.measurement.per,
        "count": list(change.after.measurement.cost.count),
        "figures": [_figure_change(f) for f in change.figures],
        "flops_by_kind": {kind: {"before": before, "after": after}
                          for kind, (before, after) in change.flops_by_kind().items()},
        "layers": [_layer(layer) for layer in change.layers],
    }


def _regression(regression: Regression) -> dict[str, Any]:
    change = regression.change
    return {
        **_key(change.after),
        "per": change.after.measurement.per,
        "allowed_percent": regression.allowed,
        "figures": [_figure_change(f) for f in regression.figures],
        "grown_layers": regression.grown_layers(len(change.layers)),
    }


def _overrun(overrun: Overrun) -> dict[str, Any]:
    return {"figure": overrun.figure, "value": overrun.value, "limit": overrun.limit.value,
            "source": overrun.limit.source, "percent_over": _percent(overrun.percent_over)}


def _over_budget(failure: BudgetFailure) -> dict[str, Any]:
    return {**_key(failure.entry), "per": failure.measurement.per, "standing": failure.standing,
            "overruns": [_overrun(o) for o in failure.measurement.overruns]}


def _mismatch(mismatch: CountMismatch) -> dict[str, Any]:
    return {**_key(mismatch.after), "baseline_count": list(mismatch.before.measurement.cost.count),
            "count": list(mismatch.after.measurement.cost.count)}


def comparison_data(report: RunReport) -> dict[str, Any]:
    counts = report.counts
    comparison = report.comparison
    baseline = None if comparison is None else {"label": report.baseline_label, "commit": report.baseline_commit}
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "status": report.status,
        "failed": report.failed,
        "headline": headline(report),
        "enforcement": report.enforcement,
        "baseline": baseline,
        "counts": {name: getattr(counts, name) for name in counts.__dataclass_fields__},
        "over_budget": [_over_budget(failure) for failure in report.over_budget],
        "regressions": [_regression(r) for r in report.regressions],
        "mismatched": [_mismatch(m) for m in report.mismatched],
        "changed": [_changed(c) for c in comparison.changed] if comparison else [],
        "unchanged": counts.unchanged,
        "added": [_measured(e) for e in comparison.added] if comparison else [],
        "removed": [_measured(e) for e in comparison.removed] if comparison else [],
        "not_run": [_measured(e) for e in comparison.not_run] if comparison else [],
        "incomplete": [ending.to_dict() for ending in report.incomplete],
        "drift": [{"what": drift.what, "baseline": drift.baseline, "run": drift.run} for drift in report.drift],
    }


def render_comparison_json(report: RunReport) -> str:
    """Names stay exact data; ``ensure_ascii`` (on by default, keep it) writes every control, bidi and
    other non-ASCII character as a ``\\u`` escape, so the raw text can be printed or pasted safely.
    ``allow_nan=False``: a percentage that cannot be written as strict JSON is a bug, never ``Infinity``."""
    return json.dumps(comparison_data(report), indent=2, sort_keys=True, allow_nan=False) + "\n"
