"""What the HTML report shows, as plain dicts: measurements in, view model out.

Kept apart from the drawing (``html_report``) so that any front end (the
plugin, ``profile --html``, ``diff --format html``) only has to hand over
measurements, an optional comparison and the enforcement mode. Every count
leaves here as an exact decimal string (``"3624638976"``) beside its display
text: the page's script reads them with ``BigInt``, so no count is ever
rounded through a float, however large.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .block_bars import block_rows
from .budget import measured_value
from .config import FIGURE_LABELS, FIGURES
from .diff_text import percent_text
from .quantity import format_quantity
from .report import budget_text, status_text
from .table import exact_and_short, layer_row, render_notes

if TYPE_CHECKING:
    from .compare import Comparison, LayerChange, MeasurementChange, Regression
    from .measurement import Measurement
    from .results import ConvCost, LayerCost, ModuleCost

OPEN_SECTIONS = 3  # sections unfolded on load: the first over-budget or regressed ones, else the first
OWN = "(own)"  # the child that holds a module's own cost when it also has counted children
# The layer table's columns; params, FLOPs and MACs are exact decimal strings.
LAYER_COLUMNS = ("layer", "type", "kind", "kernel", "stride", "groups", "bias", "output", "params", "FLOPs", "MACs", "change")


def build_view(
    measurements: Sequence[Measurement],
    enforcement: str = "fail",
    comparison: Comparison | None = None,
    regressions: Sequence[Regression] = (),
    title: str = "conv budget",
) -> dict[str, Any]:
    """The whole page's data. Rows come over budget first, then regressed, then in run order."""
    changes = {change.after.measurement.key: change for change in comparison.changes} if comparison else {}
    added = {entry.key for entry in comparison.added} if comparison else set()
    regressed = {regression.change.after.measurement.key: regression for regression in regressions}
    rows = [
        measurement_view(
            measurement, position, enforcement, changes.get(measurement.key),
            regressed.get(measurement.key), measurement.key in added, comparison is not None,
        )
        for position, measurement in enumerate(measurements)
    ]
    rows.sort(key=lambda row: row["priority"])
    for place, row in enumerate(rows):
        row["anchor"] = f"m{place}"  # sections are numbered as shown
    flagged = [row for row in rows if row["over"] or row["regressed"]] or rows[:1]
    for row in flagged[:OPEN_SECTIONS]:
        row["open"] = True
    kinds = sorted({kind for row in rows for kind in row["kinds"]})
    return {
        "title": title,
        "count": len(rows),
        "over": sum(row["over"] for row in rows),
        "regressed": sum(row["regressed"] for row in rows),
        "compared": comparison is not None,
        "changed": len(comparison.changed) if comparison else 0,
        "added": len(added),
        "removed": [
            {"test_id": entry.measurement.test_id, "name": entry.measurement.name,
             "flops": exact_and_short(entry.measurement.cost.flops)}
            for entry in (comparison.removed if comparison else ())
        ],
        "kinds": kinds,
        "per": sorted({measurement.per for measurement in measurements}),
        "measurements": rows,
    }


def measurement_view(
    measurement: Measurement,
    position: int,
    enforcement: str,
    change: MeasurementChange | None,
    regression: Regression | None,
    new: bool,
    compared: bool,
) -> dict[str, Any]:
    """One row of the summary table and the data behind its folded section."""
    cost = measurement.cost
    status = status_text(measurement, enforcement)
    over = measurement.over_budget
    changed = change is not None and change.changed
    room = measurement.headroom
    layer_changes = {layer.name: layer for layer in change.layers} if change else {}
    kinds = sorted({layer.kind for layer in cost.layers})
    return {
        "open": False,
        "priority": (0 if over else 1 if regression else 2, position),
        "test_id": measurement.test_id,
        "name": measurement.name,
        "model": cost.model,
        "status": status,
        "status_class": "over" if over else "ok" if measurement.limits else "none",
        "over": over,
        "regressed": regression is not None,
        "regression": regression.message() if regression else "",
        "baseline": _baseline_state(compared, new, changed),
        "budget": budget_text(measurement),
        "headroom": None if room is None else round(room, 1),
        "used": None if room is None else max(0.0, min(100.0 - room, 100.0)),
        "figures": [_figure(measurement, figure, change) for figure in FIGURES],
        "kinds": kinds,
        "notes": render_notes(cost),
        "detail": {
            "kinds": kinds,
            "tree": module_tree(cost, layer_changes),
            "layer_columns": LAYER_COLUMNS,
            "layers": [_layer(layer, layer_changes) for layer in cost.layers]
            + [_gone_layer(layer) for layer in layer_changes.values() if layer.after is None],
            "blocks": _blocks(change) if change else [],
            "moved": _moved(change) if change else [],
        },
    }


def _baseline_state(compared: bool, new: bool, changed: bool) -> str:
    if not compared:
        return ""
    return "new" if new else "changed" if changed else "unchanged"


def _figure(measurement: Measurement, figure: str, change: MeasurementChange | None) -> dict[str, Any]:
    """One of params/FLOPs/MACs: the value budgets compare, its limit, and its change."""
    value = measured_value(measurement.cost, figure, measurement.per)
    limit = next((limit for limit in measurement.limits if limit.figure == figure), None)
    moved = change.figure(figure) if change else None
    return {
        "figure": figure,
        "label": FIGURE_LABELS[figure],
        "value": str(value),
        "exact": f"{value:,}",
        "short": format_quantity(value),
        "limit": None if limit is None else {
            "value": str(limit.value), "exact": f"{limit.value:,}", "short": format_quantity(limit.value),
            "source": limit.source,
            "used": None if limit.value == 0 else round(100.0 * value / limit.value, 1),
            "over": value > limit.value,
        },
        "before": None if moved is None else {
            "value": str(moved.before), "short": format_quantity(moved.before), "exact": f"{moved.before:,}",
            "delta": str(moved.delta), "percent": percent_text(moved),
        },
    }


def _counts(module: ModuleCost | None) -> dict[str, str]:
    return {figure: str(getattr(module, figure)) if module else "0" for figure in FIGURES}


def module_tree(cost: ConvCost, layer_changes: dict[str, LayerChange]) -> dict[str, Any]:
    """The module tree of the counted layers: each node sums its subtree, leaves are modules.

    A module with its own cost and counted children gets an ``(own)`` child,
    so at every level the children add up to their parent exactly.
    """
    kinds = {}
    for layer in cost.layers:
        kinds.setdefault(layer.name, layer.kind)
    root: dict[str, Any] = _node(cost.model, "")
    for name, module in cost.by_module().items():
        node = root
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            path = ".".join(parts[:depth])
            node = node["children"].setdefault(path, _node(parts[depth - 1], path))
        node["own"] = module
        node["kind"] = kinds[name]
        change = layer_changes.get(name)
        node["change"] = change.status if change else ""
    return _finish(root)


def _node(label: str, path: str) -> dict[str, Any]:
    return {"label": label, "path": path, "own": None, "kind": "", "change": "", "children": {}}


def _finish(node: dict[str, Any]) -> dict[str, Any]:
    """Turn the building form into the drawn form: values summed bottom-up, children listed."""
    children = [_finish(child) for child in node["children"].values()]
    own = node["own"]
    if own is not None and children:
        children.insert(0, {
            "label": OWN, "path": node["path"], "kind": node["kind"], "change": node["change"],
            "values": _counts(own), "children": [],
        })
    values = _counts(own) if not children else {
        figure: str(sum(int(child["values"][figure]) for child in children)) for figure in FIGURES
    }
    return {"label": node["label"], "path": node["path"], "kind": node["kind"] if not children else "",
            "change": node["change"] if not children else "", "values": values, "children": children}


def _layer(layer: LayerCost, layer_changes: dict[str, LayerChange]) -> list[str]:
    """One row of the layer table, cells in :data:`LAYER_COLUMNS` order (a list keeps big pages small)."""
    label, type_, kernel, stride, groups, bias, output = layer_row(layer)[:7]
    change = layer_changes.get(layer.name)
    return [label, type_, layer.kind, kernel, stride, groups, bias, output,
            *(str(getattr(layer, figure)) for figure in FIGURES), change.status if change else ""]


def _gone_layer(change: LayerChange) -> list[str]:
    """A module the baseline had and this run does not: listed with its old figures."""
    return [change.name, *[""] * 7, *_counts(change.before).values(), "removed"]


def _blocks(change: MeasurementChange) -> list[dict[str, Any]]:
    """FLOPs before and after per top-level block: the rows of the PR comment's bars, uncapped."""
    rows = block_rows(change.before.measurement.cost, change.after.measurement.cost, "flops")
    return [
        {"name": row.name, "before": str(row.before), "after": str(row.after),
         "state": "new" if not row.present_before else "gone" if not row.present_after else "",
         "change": percent_text(row.change)}
        for row in rows
    ]


def _moved(change: MeasurementChange) -> list[dict[str, Any]]:
    """The layers that grew, shrank, appeared or went, with their FLOPs and params before and after."""
    return [
        {"name": layer.name, "status": layer.status, "before": _counts(layer.before), "after": _counts(layer.after),
         "change": percent_text(layer.flops())}
        for layer in change.layers
    ]

