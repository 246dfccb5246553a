"""What the HTML report shows, as plain dicts: a run report in, view model out.

Kept apart from the drawing (``page``): the page is built from the one
:class:`~pytest_convbudget.ci.verdict.RunReport` every format renders, so the
plugin's ``--conv-html``, ``profile --html`` and ``diff --format html`` show
the same judgement as the text and the comment, in the same words. Every
count leaves here as an exact decimal string (``"3624638976"``) beside its
display text: the page's script reads them with ``BigInt``, so no count is
ever rounded through a float, however large.

Names come from run files a pull request writes. Jinja escapes them and the
page's script only ever sets ``textContent``, so no name becomes markup; and
every string leaves here through :func:`..markup.visible`, so no control or
bidi character in a name reorders or hides the text around it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...budgets.limits import measured_value
from ...ci.verdict import RunReport
from ...engine.kinds import KINDS
from ...words.quantity import format_quantity
from ...words.vocabulary import FIGURE_LABELS, FIGURES
from ..block_bars import block_rows
from ..markup import visible
from ..phrases import (
    MISMATCHED_TITLE,
    REGRESSIONS_TITLE,
    SECTION,
    budget_text,
    count_label,
    exact_and_short,
    headline,
    kinds_note,
    mismatch_text,
    notes,
    percent_text,
    regression_text,
    status_text,
)
from ..terminal import layer_row

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ...budgets.measurement import Measurement
    from ...ci.compare import LayerChange, MeasurementChange
    from ...engine.results import ConvCost, LayerCost, ModuleCost

OPEN_SECTIONS = 3  # sections unfolded on load: the first over-budget or regressed ones, else the first
OWN = "(own)"  # the child that holds a module's own cost when it also has counted children
# The layer table's columns; params, FLOPs and MACs are exact decimal strings.
LAYER_COLUMNS = ("layer", "type", "kind", "kernel", "stride", "groups", "bias", "output", "params", "FLOPs", "MACs", "change")
TITLE = SECTION  # the title of a run that counted conv modules only (the default), or nothing


def page_title(kinds: Sequence[str]) -> str:
    """The page's title and heading: what the run counted. ``conv budget`` for the default
    count, ``conv, linear, matmul and attention budget`` for a run that counted those kinds
    (in any of its measurements: the header's kinds line says in how many)."""
    return f"{count_label(kinds, str)} budget" if kinds else TITLE


def build_view(report: RunReport, title: str | None = None) -> dict[str, Any]:
    """The whole page's data. Rows come over budget first, then regressed, then in run order.

    ``title`` names the page; by default (``None``) it names the kinds the measurements counted."""
    comparison = report.comparison
    measurements = [entry.measurement for entry in report.entries]
    changes = {change.after.key: change for change in comparison.changes} if comparison else {}
    standing = report.standings
    mismatches = {mismatch.after.key: mismatch_text(mismatch) for mismatch in report.mismatched}
    regressed = {regression.change.after.key: regression_text(regression) for regression in report.regressions}
    over = {failure.entry.key for failure in report.over_budget}
    rows = [
        measurement_view(
            measurement, position, report.enforcement, changes.get(measurement.key), standing.get(measurement.key, ""),
            over=measurement.key in over, regression=regressed.get(measurement.key, ""),
            mismatch=mismatches.get(measurement.key, ""),
        )
        for position, measurement in enumerate(measurements)
    ]
    rows.sort(key=lambda row: row["priority"])
    for place, row in enumerate(rows):
        row["anchor"] = f"m{place}"  # sections are numbered as shown
    flagged = [row for row in rows if row["over"] or row["regressed"] or row["mismatch"]] or rows[:1]
    for row in flagged[:OPEN_SECTIONS]:
        row["open"] = True
    counted = _in_registry_order({kind for measurement in measurements for kind in measurement.cost.count})
    return _shown({
        "title": page_title(counted) if title is None else title,
        "status": report.status,
        "failed": report.failed,
        "headline": headline(report),
        "titles": {"regressions": REGRESSIONS_TITLE, "mismatched": MISMATCHED_TITLE},
        "baseline_label": report.baseline_label or "",
        "compared": comparison is not None,
        "regressions": list(regressed.values()),
        "mismatched": list(mismatches.values()),
        "removed": [
            {"test_id": entry.measurement.test_id, "name": entry.measurement.name,
             "flops": exact_and_short(entry.measurement.cost.flops)}
            for entry in (comparison.removed if comparison else ())
        ],
        "kinds": counted,
        "kinds_line": kinds_line(measurements),
        "colours": kind_colours(),
        "per": sorted({measurement.per for measurement in measurements}),
        "measurements": rows,
    })


def _shown(data: Any) -> Any:
    """Every string in the view, at any depth, as :func:`visible` shows it."""
    if isinstance(data, str):
        return visible(data)
    if isinstance(data, dict):
        return {key: _shown(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_shown(item) for item in data)
    return data


def kinds_line(measurements: Sequence[Measurement]) -> str:
    """Which kinds the run counted, and in how many measurements when not in all of them:
    a run of CNNs and one ViT counted with "all" must not read as if every model counted matmuls."""
    uses: dict[str, int] = {}
    for measurement in measurements:
        for kind in measurement.cost.count:
            uses[kind] = uses.get(kind, 0) + 1
    if len(uses) <= 1:
        return ""
    order = _in_registry_order(uses)
    total = len(measurements)
    by_uses: dict[int, list[str]] = {}
    for kind in order:
        by_uses.setdefault(uses[kind], []).append(kind)
    if list(by_uses) == [total]:  # every measurement counted the same kinds
        return ", ".join(order)
    return "; ".join(
        ", ".join(kinds) + (f" in all {total}" if count == total else f" in {count} of {total}")
        for count, kinds in sorted(by_uses.items(), reverse=True)
    )


def _in_registry_order(kinds: Iterable[str]) -> list[str]:
    """Registered kinds in registry order, then any others (from an older run file) by name."""
    names = set(kinds)
    return [name for name in KINDS if name in names] + sorted(names - set(KINDS))


def kind_colours() -> dict[str, str]:
    """Each registered kind's chart colour, from the registry: the page's script draws with these."""
    return {name: kind.colour for name, kind in KINDS.items()}


def measurement_view(
    measurement: Measurement,
    position: int,
    enforcement: str,
    change: MeasurementChange | None,
    baseline: str,
    over: bool = False,
    regression: str = "",
    mismatch: str = "",
) -> dict[str, Any]:
    """One row of the summary table and the data behind its folded section.

    ``baseline`` is how it stands against the baseline (``""`` without one);
    ``over``, ``regression`` and ``mismatch`` are the report's findings on it,
    the last two in the text renderer's words.
    """
    cost = measurement.cost
    room = measurement.headroom
    layer_changes = {layer.name: layer for layer in change.layers} if change else {}
    return {
        "open": False,
        "priority": (0 if over else 1 if regression or mismatch else 2, position),
        "test_id": measurement.test_id,
        "name": measurement.name,
        "model": cost.model,
        "status": status_text(measurement, enforcement),
        "status_class": _status_class(measurement, over),
        "over": over,
        "regressed": bool(regression),
        "regression": regression,
        "mismatch": mismatch,
        "baseline": baseline,
        "budget": budget_text(measurement),
        "headroom": None if room is None else round(room, 1),
        "used": None if room is None else max(0.0, min(100.0 - room, 100.0)),
        "figures": [_figure(measurement, figure, change) for figure in FIGURES],
        "notes": [*kinds_note(cost), *notes(cost)],
        "detail": {
            "kinds": list(cost.count),
            "tree": module_tree(cost, layer_changes),
            "layer_columns": LAYER_COLUMNS,
            "layers": [_layer(layer, layer_changes) for layer in cost.layers]
            + [_gone_layer(layer) for layer in layer_changes.values() if layer.after is None],
            "blocks": _blocks(change) if change and change.changed else [],
            "moved": _moved(change) if change else [],
        },
    }


def _status_class(measurement: Measurement, over: bool) -> str:
    """``over`` when the report holds it over budget; ``unchecked`` when over its limits under ``off``."""
    if over:
        return "over"
    if measurement.over_budget:
        return "unchecked"
    return "ok" if measurement.limits else "none"


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


def _counts(module: ModuleCost | LayerCost | None) -> dict[str, str]:
    return {figure: str(getattr(module, figure)) if module else "0" for figure in FIGURES}


def _own_by_kind(cost: ConvCost) -> dict[str, dict[str, dict[str, int]]]:
    """Per module name, its own calls summed per kind, kinds in first-call order."""
    own: dict[str, dict[str, dict[str, int]]] = {}
    for layer in cost.layers:
        sums = own.setdefault(layer.name, {}).setdefault(layer.kind, dict.fromkeys(FIGURES, 0))
        for figure in FIGURES:
            sums[figure] += getattr(layer, figure)
    return own


def module_tree(cost: ConvCost, layer_changes: dict[str, LayerChange]) -> dict[str, Any]:
    """The module tree of the counted layers: each node sums its subtree, leaves are modules.

    A module whose calls are of several kinds (a ``self_attn`` that ran linear
    and attention ops) gets one part per kind, and a module with its own cost
    and counted children an ``(own)`` part, so every part has one kind (one
    colour) and at every level the children add up to their parent exactly.
    """
    root: dict[str, Any] = _node(cost.model, "")
    for name, kinds in _own_by_kind(cost).items():
        node = root
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            path = ".".join(parts[:depth])
            node = node["children"].setdefault(path, _node(parts[depth - 1], path))
        node["own"] = kinds
        change = layer_changes.get(name)
        node["change"] = change.status if change else ""
    return _finish(root)


def _node(label: str, path: str) -> dict[str, Any]:
    return {"label": label, "path": path, "own": {}, "change": "", "children": {}}


def _part(label: str, node: dict[str, Any], kind: str, values: dict[str, int]) -> dict[str, Any]:
    return {"label": label, "path": node["path"], "kind": kind, "change": node["change"],
            "values": {figure: str(value) for figure, value in values.items()}, "children": []}


def _finish(node: dict[str, Any]) -> dict[str, Any]:
    """Turn the building form into the drawn form: values summed bottom-up, children listed."""
    children = [_finish(child) for child in node["children"].values()]
    own = node["own"]
    if len(own) == 1 and not children:  # a leaf of one kind
        ((kind, values),) = own.items()
        return _part(node["label"], node, kind, values)
    several = len(own) > 1
    children[:0] = [_part(kind if several else OWN, node, kind, values) for kind, values in own.items()]
    values = {figure: str(sum(int(child["values"][figure]) for child in children)) for figure in FIGURES}
    return {"label": node["label"], "path": node["path"], "kind": "", "change": "", "values": values,
            "children": children}


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

