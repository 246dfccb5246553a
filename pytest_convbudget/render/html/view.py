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
from ...ci.compare import FigureChange
from ...ci.verdict import RunReport
from ...engine.kinds import KINDS
from ...words.quantity import format_bytes, format_figure, format_quantity
from ...words.vocabulary import CHANGED, FIGURE_LABELS, FIGURES, NEW, NOT_COMPARED, ROOT_NAME, SIZE_FIGURES
from .. import folding
from ..block_bars import BlockRow, block_rows, top_level
from ..markup import visible
from ..phrases import (
    MISMATCHED_TITLE,
    OUTWEIGHED_TITLE,
    REGRESSIONS_TITLE,
    SECTION,
    budget_text,
    count_label,
    exact_and_short,
    group_label,
    headline,
    kinds_note,
    layer_label,
    mismatch_text,
    notes,
    outweighed_text,
    per_line,
    percent_text,
    regression_text,
    show_more,
    status_text,
)
from ..terminal import MIXED, folded_row, layer_row

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from ...budgets.measurement import Measurement
    from ...ci.compare import LayerChange, MeasurementChange
    from ...engine.results import ConvCost, LayerCost, ModuleCost

OPEN_SECTIONS = 3  # sections unfolded on load: the first over-budget or regressed ones, else the first
DRAWN_ROWS = 200  # rows drawn when the page loads, besides every flagged, changed or new one
UNREMARKABLE = 3  # the priority of a row that is neither flagged, nor changed, nor new
SHOWN_ALERTS = 10  # the regressions and mismatches listed openly; the rest fold under "show N more"
BLOCKS_TITLE = "Before and after, per {level} (FLOPs per sample)"
OWN = "(own)"  # the child that holds a module's own cost when it also has counted children
# The layer table's columns; params, FLOPs and MACs are exact decimal strings.
LAYER_COLUMNS = ("layer", "type", "kind", "kernel", "stride", "groups", "bias", "output", "output bytes",
                 "params", "FLOPs", "MACs", "change")
REMARKABLE = (CHANGED, NEW, NOT_COMPARED)  # standings drawn with the flagged rows, before the others
TITLE = SECTION  # the title of a run that counted conv modules only (the default), or nothing


def page_title(kinds: Sequence[str]) -> str:
    """The page's title and heading: what the run counted. ``conv budget`` for the default
    count, ``conv, linear, matmul and attention budget`` for a run that counted those kinds
    (in any of its measurements: the header's kinds line says in how many)."""
    return f"{count_label(kinds, str)} budget" if kinds else TITLE


def build_view(report: RunReport, title: str | None = None) -> dict[str, Any]:
    """The whole page's data. Rows come over budget first, then regressed or not compared, then
    changed or new, then in run order; the first :data:`DRAWN_ROWS` of them, and every flagged or
    changed one, are drawn when the page loads, the others when asked for.

    ``title`` names the page; by default (``None``) it names the kinds the measurements counted.
    Thousands of tests measure a few models: each model's chart, tree and tables are built once
    and shared by every row that measured it."""
    comparison = report.comparison
    measurements = [entry.measurement for entry in report.entries]
    changes = {change.after.key: change for change in comparison.changes} if comparison else {}
    standing = report.standings
    mismatches = {mismatch.after.key: mismatch_text(mismatch) for mismatch in report.mismatched}
    regressed = {r.change.after.key: regression_text(r, fold=report.fold) for r in report.regressions}
    over = {failure.entry.key for failure in report.over_budget}
    shared: dict[tuple[Any, ...], Any] = {}
    rows = [
        measurement_view(
            measurement, position, report.enforcement, changes.get(measurement.key), standing.get(measurement.key, ""),
            over=measurement.key in over, regression=regressed.get(measurement.key, ""),
            mismatch=mismatches.get(measurement.key, ""), depth=report.depth, fold=report.fold, shared=shared,
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
        "titles": {"regressions": REGRESSIONS_TITLE, "mismatched": MISMATCHED_TITLE, "outweighed": OUTWEIGHED_TITLE},
        "baseline_label": report.baseline_label or "",
        "compared": comparison is not None,
        "regressions": _alerts(list(regressed.values())),
        "mismatched": _alerts(list(mismatches.values())),
        "outweighed": _alerts([f"{m.test_id} [{m.name}]: {outweighed_text(m)}" for m in report.outweighed]),
        "removed": [
            {"test_id": entry.measurement.test_id, "name": entry.measurement.name,
             "flops": exact_and_short(entry.measurement.cost.flops)}
            for entry in (comparison.removed if comparison else ())
        ],
        "kinds": counted,
        "kinds_line": kinds_line(measurements),
        "colours": kind_colours(),
        "per": sorted({measurement.per for measurement in measurements}),
        "per_note": per_line({measurement.per for measurement in measurements}),
        "labels": {figure: FIGURE_LABELS[figure] for figure in (*FIGURES, *SIZE_FIGURES)},
        "drawn": drawn_rows(rows),
        "rest": rest_label(rows, report.enforcement, comparison is not None),
        "measurements": rows,
    }, {})


def rest_label(rows: Sequence[dict[str, Any]], enforcement: str, compared: bool) -> str:
    """The "show the rest" button's words: how many rows wait, and what they are (none of them is
    over budget where budgets are checked, none changed where there is a baseline)."""
    rest = len(rows) - drawn_rows(rows)
    what = [words for words, holds in (("within budget", enforcement != "off"), ("unchanged", compared)) if holds]
    return f"Show the other {rest:,} measurements" + (f" ({', '.join(what)})" if what else "")


def drawn_rows(rows: Sequence[dict[str, Any]]) -> int:
    """How many of the (sorted) rows the page draws when it loads: every flagged, changed or new one,
    and at least the first :data:`DRAWN_ROWS`. The rest wait for "show all"."""
    first = sum(1 for row in rows if row["priority"][0] < UNREMARKABLE)
    return max(first, min(len(rows), DRAWN_ROWS))


def _alerts(lines: list[str]) -> dict[str, Any]:
    """A list of findings: the first :data:`SHOWN_ALERTS` shown, the rest folded under "show N more"."""
    rest = lines[SHOWN_ALERTS:]
    return {"shown": lines[:SHOWN_ALERTS], "rest": rest, "more": show_more(len(rest)) if rest else ""}


def _shown(data: Any, seen: dict[int, Any]) -> Any:
    """Every string in the view, at any depth, as :func:`visible` shows it; a part shared by many
    rows (a model's chart data) is shown once and stays shared."""
    if isinstance(data, str):
        return visible(data)
    if isinstance(data, (dict, list, tuple)):
        found = seen.get(id(data))
        if found is None:
            if isinstance(data, dict):
                found = {key: _shown_value(value, seen) for key, value in data.items()}
            else:
                found = type(data)(_shown_value(item, seen) for item in data)
            seen[id(data)] = found  # every part is alive while the view is built: no id is reused
        return found
    return data


def _shown_value(value: Any, seen: dict[int, Any]) -> Any:
    """:func:`_shown` of a part, without a call for a number or a flag (most of a row's values)."""
    kind = type(value)
    if kind is str:
        return visible(value)
    if kind in _PLAIN:
        return value
    return _shown(value, seen)


_PLAIN = frozenset({int, float, bool, type(None)})


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
    depth: int | None = None,
    fold: bool = True,
    shared: dict[tuple[Any, ...], Any] | None = None,
) -> dict[str, Any]:
    """One row of the summary table and the data behind its folded section.

    ``baseline`` is how it stands against the baseline (``""`` without one);
    ``over``, ``regression`` and ``mismatch`` are the report's findings on it,
    the last two in the text renderer's words. ``depth`` and ``fold`` are the
    report's: where the chart's first level stops, and whether repeated blocks
    are one row (a group row opens onto its members). ``shared`` keeps what a
    cost (and a cost against its baseline's) gives, for the next row of the same model:
    the costs are shared objects (``engine.results.shared``), so they are told apart by identity.
    """
    cost = measurement.cost
    room = measurement.headroom
    shared = {} if shared is None else shared
    before = change.before.measurement.cost if change else None
    parts = shared.get((id(cost),))
    if parts is None:
        parts = shared[(id(cost),)] = {"memory": _memory(cost), "notes": [*kinds_note(cost), *notes(cost)]}
    key = (id(cost), None if before is None else id(before), bool(change and change.changed))
    detail = shared.get(key)
    if detail is None:
        detail = shared[key] = _detail(cost, change, depth, fold)
    flagged = over or regression or mismatch
    return {
        "open": False,
        "priority": (0 if over else 1 if flagged else 2 if baseline in REMARKABLE else UNREMARKABLE, position),
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
        "budget": _budget(measurement, shared),
        "headroom": None if room is None else round(room, 1),
        "used": None if room is None else round(max(0.0, min(100.0 - room, 100.0)), 1),
        "figures": [_figure(measurement, figure, change, shared) for figure in FIGURES],
        "size_figures": [_figure(measurement, figure, change, shared) for figure in SIZE_FIGURES
                         if measured_value(cost, figure, measurement.per) is not None],
        "memory": parts["memory"],
        "notes": parts["notes"],
        "detail": detail,
    }


def _budget(measurement: Measurement, shared: dict[tuple[Any, ...], Any]) -> str:
    """The budget's words, once per set of limits: a suite's patterns give thousands of tests the same."""
    key = ("budget", measurement.limits)
    if key not in shared:
        shared[key] = budget_text(measurement)
    return shared[key]


def _detail(cost: ConvCost, change: MeasurementChange | None, depth: int | None, fold: bool) -> dict[str, Any]:
    """What a section draws when it is opened: the chart's tree, the layer table, the blocks
    before and after, the layers that moved and the live bytes. The same for every test that
    measured this model (against this baseline)."""
    layer_changes = {layer.name: layer for layer in change.layers} if change else {}
    costs = [change.before.measurement.cost, cost] if change else [cost]
    blocks = _blocks(change, depth, fold) if change and change.changed else []
    return {
        "kinds": list(cost.count),
        "tree": module_tree(cost, layer_changes, folding.block_key(costs, depth), fold),
        "layer_columns": LAYER_COLUMNS,
        "layers": _layers(cost, layer_changes, fold)
        + [_gone_layer(layer) for layer in layer_changes.values() if layer.after is None],
        "blocks": blocks,
        "blocks_title": BLOCKS_TITLE.format(level="top-level block" if top_level_view(blocks) else "block"),
        "moved": _moved(change, fold) if change else [],
        "memory": _memory_trace(cost),
    }


def _memory(cost: ConvCost) -> dict[str, Any] | None:
    """The live bytes along the forward, drawn, with the peak and the module that ran there."""
    if cost.activation_bytes is None:
        return None
    return {"peak": format_bytes(cost.activation_bytes), "peak_exact": f"{cost.activation_bytes:,}",
            "module": cost.peak_module or ROOT_NAME}


def _memory_trace(cost: ConvCost) -> dict[str, Any] | None:
    """What the page's script draws when the section opens: the live bytes after each storage
    the forward created or freed (at most 256 points, each the largest of its stretch; they
    only set heights, so plain numbers do), and the peak's label."""
    if not cost.activation_bytes or not cost.live_bytes:
        return None
    return {"live": list(cost.live_bytes),
            "label": f"peak {format_bytes(cost.activation_bytes)} in {cost.peak_module or ROOT_NAME}"}


def _status_class(measurement: Measurement, over: bool) -> str:
    """``over`` when the report holds it over budget; ``unchecked`` when over its limits under ``off``."""
    if over:
        return "over"
    if measurement.over_budget:
        return "unchecked"
    return "ok" if measurement.limits else "none"


def _figure(
    measurement: Measurement, figure: str, change: MeasurementChange | None, shared: dict[tuple[Any, ...], Any]
) -> dict[str, Any]:
    """One figure: the value budgets compare, its limit, and its change (sizes in bytes as bytes).
    Rows with the same value, limit and change share one (``shared``): a suite repeats them."""
    value = measured_value(measurement.cost, figure, measurement.per)
    limit = next((limit for limit in measurement.limits if limit.figure == figure), None)
    moved = next((f for f in change.figures if f.figure == figure), None) if change else None  # sizes: where budgeted
    key = ("figure", figure, value, limit, None if moved is None else moved.before)
    found = shared.get(key)
    if found is None:
        found = shared[key] = {
            "figure": figure,
            "label": FIGURE_LABELS[figure],
            "value": str(value),
            "exact": f"{value:,}",
            "short": format_figure(figure, value),
            "limit": None if limit is None else {
                "value": str(limit.value), "exact": f"{limit.value:,}", "short": format_figure(figure, limit.value),
                "source": limit.source,
                "used": None if limit.value == 0 else round(100.0 * value / limit.value, 1),
                "over": value > limit.value,
            },
            "before": None if moved is None else {
                "value": str(moved.before), "short": format_figure(figure, moved.before), "exact": f"{moved.before:,}",
                "delta": str(moved.delta), "percent": percent_text(moved),
            },
        }
    return found


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


def module_tree(
    cost: ConvCost, layer_changes: dict[str, LayerChange], block: Callable[[str], str] | None = None, fold: bool = True
) -> dict[str, Any]:
    """The module tree of the counted layers: each node sums its subtree, leaves are modules.

    The first level is the blocks ``block`` maps each layer to (by default the
    top-level ones; see :func:`.folding.block_key`), named by their whole path,
    and repeated blocks are one node (``model.layers.* ×12``) whose children are
    those blocks, unless ``fold`` is off. A module whose calls are of several kinds
    (a ``self_attn`` that ran linear and attention ops) gets one part per kind, and
    a module with its own cost and counted children an ``(own)`` part, so every
    part has one kind (one colour) and at every level the children add up to their
    parent exactly.
    """
    block = block or (lambda name: name.split(".")[0])
    blocks: dict[str, dict[str, Any]] = {}
    for name, kinds in _own_by_kind(cost).items():
        top = block(name)
        node = blocks.setdefault(top, _node(top, top))
        parts = name.split(".")
        for depth in range(len(top.split(".")) + 1, len(parts) + 1):
            path = ".".join(parts[:depth])
            node = node["children"].setdefault(path, _node(parts[depth - 1], path))
        node["own"] = kinds
        change = layer_changes.get(name)
        node["change"] = change.status if change else ""
    root: dict[str, Any] = _node(cost.model, "")
    for group in folding.fold(blocks.items(), lambda item: item[0], enabled=fold):
        if not group.grouped:
            path, node = group.members[0]
            root["children"][path] = node
            continue
        node = _node(layer_label(group.name, count=group.count), group.name)
        node["children"] = dict(group.members)
        root["children"][group.name] = node
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
            "" if layer.output_bytes is None else str(layer.output_bytes),
            *(str(getattr(layer, figure)) for figure in FIGURES), change.status if change else ""]


def _layers(cost: ConvCost, layer_changes: dict[str, LayerChange], fold: bool) -> list[Any]:
    """The layer table's rows: a call's cells, or for repeated calls folded into one row, its
    cells (summed figures; ``mixed`` where the members differ) and its members' rows."""
    rows: list[Any] = []
    for group in folding.fold_calls(cost.layers, fold):
        if not group.grouped:
            rows.append(_layer(group.members[0], layer_changes))
            continue
        label, type_, kernel, stride, groups, bias, output = folded_row(group)[:7]
        kinds = {layer.kind for layer in group.members}
        changes = {(layer_changes[layer.name].status if layer.name in layer_changes else "") for layer in group.members}
        sizes = {layer.output_bytes for layer in group.members}
        cells = [label, type_, kinds.pop() if len(kinds) == 1 else MIXED, kernel, stride, groups, bias, output,
                 (str(sizes.pop() or "") if len(sizes) == 1 else MIXED),
                 *(str(group.total(lambda layer, figure=figure: getattr(layer, figure))) for figure in FIGURES),
                 changes.pop() if len(changes) == 1 else MIXED]
        rows.append({"cells": cells, "members": [_layer(layer, layer_changes) for layer in group.members]})
    return rows


def _gone_layer(change: LayerChange) -> list[str]:
    """A module the baseline had and this run does not: listed with its old figures."""
    return [change.name, *[""] * 8, *_counts(change.before).values(), "removed"]


def _blocks(change: MeasurementChange, depth: int | None = None, fold: bool = True) -> list[dict[str, Any]]:
    """FLOPs before and after per block: the rows of the PR comment's bars, uncapped; a folded
    row (``model.layers.* ×12``) carries its blocks as members."""
    rows = block_rows(change.before.measurement.cost, change.after.measurement.cost, "flops", depth, fold)
    return [{**_block(row), **({"members": [_block(member) for member in row.members]} if row.members else {})}
            for row in rows]


def _block(row: BlockRow) -> dict[str, Any]:
    return {"name": row.label, "path": row.name, "before": str(row.before), "after": str(row.after),
            "state": "new" if not row.present_before else "gone" if not row.present_after else "",
            "change": percent_text(row.change)}


def top_level_view(blocks: list[dict[str, Any]]) -> bool:
    """Whether the blocks of :func:`_blocks` are all top-level ones (the table's title says so)."""
    return top_level([BlockRow(block["path"], 0, 0) for block in blocks])


def _moved(change: MeasurementChange, fold: bool = True) -> list[dict[str, Any]]:
    """The layers that grew, shrank, appeared or went, with their FLOPs and params before and after;
    repeated ones of one status as one row, with each as a member."""
    rows = []
    for group in folding.fold_changes(change.layers, fold):
        before = {figure: sum(getattr(layer.before, figure) for layer in group.members if layer.before)
                  for figure in FIGURES}
        after = {figure: sum(getattr(layer.after, figure) for layer in group.members if layer.after)
                 for figure in FIGURES}
        row = _moved_row(group_label(group), group.members[0].status, before, after)
        if group.grouped:
            row["members"] = [_moved_row(layer.name, layer.status, _counts(layer.before), _counts(layer.after))
                              for layer in group.members]
        rows.append(row)
    return rows


def _moved_row(name: str, status: str, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    change = FigureChange("flops", int(before["flops"]), int(after["flops"]))
    return {"name": name, "status": status, "before": {k: str(v) for k, v in before.items()},
            "after": {k: str(v) for k, v in after.items()}, "change": percent_text(change)}

