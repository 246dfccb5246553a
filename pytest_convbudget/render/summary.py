"""The "conv budget" section of pytest's terminal summary."""

from __future__ import annotations

from typing import Sequence

from ..budgets.limits import measured_value
from ..engine.kinds import count_label
from ..budgets.measurement import Measurement
from ..words.quantity import format_quantity
from ..engine.results import ConvCost
from .terminal import render_layers, render_notes, render_rows
from ..words.vocabulary import DEFAULT_COUNT, FIGURE_LABELS

SUMMARY_COLUMNS = ("test", "name", "params", "FLOPs", "MACs", "budget", "headroom", "status")
_NUMERIC = {"params", "FLOPs", "MACs", "headroom"}
TOP_LAYERS_IN_REPORT = 5


def status_text(measurement: Measurement, enforcement: str) -> str:
    if not measurement.limits:
        return "no budget"
    if not measurement.over_budget:
        return "ok"
    return {"fail": "OVER", "warn": "over (warn)", "off": "over (off)"}[enforcement]


def budget_text(measurement: Measurement) -> str:
    return ", ".join(
        f"{FIGURE_LABELS[limit.figure]} {format_quantity(limit.value)}" for limit in measurement.limits
    ) or "-"


def summary_row(measurement: Measurement, enforcement: str) -> list[str]:
    cost, per = measurement.cost, measurement.per
    room = measurement.headroom
    return [
        measurement.test_id,
        measurement.name,
        format_quantity(cost.params),
        format_quantity(measured_value(cost, "flops", per)),
        format_quantity(measured_value(cost, "macs", per)),
        budget_text(measurement),
        "-" if room is None else f"{room:.1f}%",
        status_text(measurement, enforcement),
    ]


def kinds_note(cost: ConvCost) -> list[str]:
    """What a measurement counted, when it is more than the default conv modules, with the
    per-sample FLOPs of each kind."""
    if cost.count == DEFAULT_COUNT:
        return []
    shares = ", ".join(f"{kind} {format_quantity(share.flops)}" for kind, share in cost.by_kind().items())
    return [f"counted {count_label(cost.count)} (FLOPs by kind: {shares})"]


def render_report(measurements: Sequence[Measurement], enforcement: str, show_layers: bool) -> list[str]:
    if not measurements:
        return ["no conv_cost measurements in this run"]
    per = {m.per for m in measurements}
    rows = [summary_row(m, enforcement) for m in measurements]
    rows.append([
        "total",
        f"{len(measurements)} measurement(s)",
        format_quantity(sum(m.cost.params for m in measurements)),
        format_quantity(sum(measured_value(m.cost, "flops", m.per) for m in measurements)),
        format_quantity(sum(measured_value(m.cost, "macs", m.per) for m in measurements)),
        "", "", f"{sum(m.over_budget for m in measurements)} over",
    ])
    lines = render_rows(SUMMARY_COLUMNS, rows, _NUMERIC)
    lines.append(f"FLOPs and MACs are per {'sample' if per == {'sample'} else 'batch where per=batch'}; "
                 "budgets compare the same figures")
    for measurement in measurements:
        notes = [*kinds_note(measurement.cost), *render_notes(measurement.cost)]
        if notes:
            lines.append(f"{measurement.test_id} [{measurement.name}]: " + "; ".join(notes))
    for measurement in measurements:
        if measurement.over_budget and not show_layers:
            lines += ["", measurement.failure_message().splitlines()[0] + ", costliest layers:"]
            top = measurement.cost.top_layers(TOP_LAYERS_IN_REPORT)
            lines += ["  " + line for line in render_layers(top, len(measurement.cost.count) > 1)]
    if show_layers:
        for measurement in measurements:
            lines += ["", f"{measurement.test_id} [{measurement.name}] ({measurement.cost.device}):"]
            lines += ["  " + line for line in render_layers(measurement.cost.layers, len(measurement.cost.count) > 1)]
    return lines

