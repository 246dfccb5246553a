"""The terminal: a profile's layer table, the "conv budget" summary table, and a run
report as text (the gate's section in pytest's summary, and ``diff``'s default format).

Columns and alignment live here; every sentence comes from :mod:`.phrases`.
Names come from run files a pull request writes: every cell and every line
leaves through :func:`.markup.visible`, so none can send a terminal escape,
break a line or reorder the text around it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..budgets.limits import measured_value
from ..words.quantity import format_figure, format_quantity
from ..words.vocabulary import FIGURE_LABELS, SIZE_FIGURES
from . import folding, phrases
from .markup import visible

if TYPE_CHECKING:
    from ..budgets.measurement import Measurement
    from ..ci.compare import Comparison
    from ..ci.verdict import RunReport
    from ..engine.results import ConvCost, LayerCost, ModuleCost

LAYER_COLUMNS = ("layer", "type", "kernel", "stride", "groups", "bias", "output", "params", "FLOPs", "MACs")
KIND_COLUMNS = ("by kind", "calls", "params", "FLOPs", "MACs")
SUMMARY_COLUMNS = ("test", "name", "params", "FLOPs", "MACs", "budget", "headroom", "status")
MEMORY_COLUMNS = ("test", "name", "model params", "weights", "activations", "peak at")
CHANGE_COLUMNS = ("test", "name", "params", "FLOPs", "MACs")
BLOCK_COLUMNS = ("block", "calls", "params", "FLOPs", "MACs")
MIXED = "mixed"  # a folded row's cell where its members differ (a stride, a kernel)
_NUMERIC = {"params", "FLOPs", "MACs", "calls", "headroom", "model params", "weights", "activations"}
TOP_LAYERS_IN_REPORT = 5
LAYERS_LISTED_PER_CHANGE = 5


def render_rows(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[str]) -> list[str]:
    """Align columns; columns named in ``numeric`` are right-aligned. Cells are made visible first,
    so an escaped name is measured as it is shown."""
    rows = [[visible(str(cell)) for cell in row] for row in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = []
    for row in (header, *rows):
        cells = [
            cell.rjust(width) if name in numeric else cell.ljust(width)
            for cell, width, name in zip(row, widths, header)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


# -- one profile -----------------------------------------------------------------


def _dims(values: Sequence[int] | str) -> str:
    return values if isinstance(values, str) else "x".join(str(value) for value in values)


def layer_row(layer: LayerCost, with_kind: bool = False) -> list[str]:
    """One row; an op's row (a matmul, a functional linear) has no kernel geometry."""
    module = bool(layer.kernel_size)
    return [
        layer.label,
        *([layer.kind] if with_kind else []),
        layer.type,
        _dims(layer.kernel_size),
        _dims(layer.stride),
        str(layer.groups) if module else "",
        "yes" if layer.bias else "no",
        _dims(layer.output_shape),
        f"{layer.params:,}",
        f"{layer.flops:,}",
        f"{layer.macs:,}",
    ]


def folded_row(group: folding.Folded[LayerCost], with_kind: bool = False) -> list[str]:
    """A row for repeated calls (``layers.*.mlp.fc1 ×12``): their summed figures, and each other
    cell where the members agree (``mixed`` where they do not)."""
    if not group.grouped:
        return layer_row(group.members[0], with_kind)
    rows = [layer_row(layer, with_kind) for layer in group.members]
    columns = len(rows[0])
    cells = [phrases.group_label(group)]
    for index in range(1, columns - 3):
        values = {row[index] for row in rows}
        cells.append(values.pop() if len(values) == 1 else MIXED)
    cells += [f"{group.total(lambda layer, figure=figure: getattr(layer, figure)):,}" for figure in ("params", "flops", "macs")]
    return cells


def render_layers(layers: Sequence[LayerCost], with_kind: bool = False, fold: bool = False) -> list[str]:
    """The layer table: one row a call, or with ``fold`` one row for the same call of repeated blocks."""
    header = (LAYER_COLUMNS[0], "kind", *LAYER_COLUMNS[1:]) if with_kind else LAYER_COLUMNS
    return render_rows(header, [folded_row(group, with_kind) for group in folding.fold_calls(layers, fold)], _NUMERIC)


def render_blocks(cost: ConvCost, depth: int, fold: bool = True) -> list[str]:
    """The layers summed per block at ``depth`` path parts (``--conv-depth``), repeated blocks folded."""
    modules = cost.by_module(key=folding.block_key([cost], depth))
    rows = []
    for group in folding.fold(modules.values(), lambda module: module.name, enabled=fold):
        def total(figure: str, group: folding.Folded[ModuleCost] = group) -> int:
            return group.total(lambda module: getattr(module, figure))

        rows.append([phrases.layer_label(group.name, count=group.count), str(total("calls")),
                     f"{total('params'):,}", f"{total('flops'):,}", f"{total('macs'):,}"])
    return render_rows(BLOCK_COLUMNS, rows, _NUMERIC)


def costliest_rows(measurement: Measurement, fold: bool = True) -> list[str]:
    """The table of a measurement's costliest rows, repeated calls folded into one with their total."""
    with_kind = len(measurement.cost.count) > 1
    top = folding.costliest(measurement, TOP_LAYERS_IN_REPORT, fold)
    header = (LAYER_COLUMNS[0], "kind", *LAYER_COLUMNS[1:]) if with_kind else LAYER_COLUMNS
    return render_rows(header, [folded_row(group, with_kind) for group, _ in top], _NUMERIC)


def render_kinds(cost: ConvCost) -> list[str]:
    """The per-kind breakdown of the totals, per sample."""
    rows = [
        [kind, str(share.calls), f"{share.params:,}", f"{share.flops:,}", f"{share.macs:,}"]
        for kind, share in cost.by_kind().items()
    ]
    return render_rows(KIND_COLUMNS, rows, _NUMERIC)


def render_totals(cost: ConvCost) -> list[str]:
    lines = phrases.totals_lines(cost)
    if len(cost.count) > 1:
        lines.extend(render_kinds(cost))
    lines.extend(phrases.notes(cost))
    return lines


def render_cost(cost: ConvCost) -> str:
    """What ``ConvCost.table()`` and ``python -m pytest_convbudget profile`` print."""
    shapes = ", ".join(_dims(shape) for shape in cost.input_shapes) or "no tensor input"
    title = f"{cost.model} on {shapes} ({cost.device}; params, FLOPs and MACs per sample)"
    lines = [title, *render_layers(cost.layers, len(cost.count) > 1), "", *render_totals(cost)]
    return "\n".join(map(visible, lines))


# -- the summary table of a session (--conv-report) --------------------------------


def summary_row(measurement: Measurement, enforcement: str) -> list[str]:
    cost, per = measurement.cost, measurement.per
    room = measurement.headroom
    return [
        measurement.test_id,
        measurement.name,
        format_quantity(cost.params),
        format_quantity(measured_value(cost, "flops", per)),
        format_quantity(measured_value(cost, "macs", per)),
        phrases.budget_text(measurement),
        "-" if room is None else f"{room:.1f}%",
        phrases.status_text(measurement, enforcement),
    ]


def memory_row(measurement: Measurement) -> list[str]:
    cost = measurement.cost
    sizes = [measured_value(cost, figure, measurement.per) for figure in SIZE_FIGURES]
    shown = [format_figure(figure, value) if value is not None else "-" for figure, value in zip(SIZE_FIGURES, sizes)]
    return [measurement.test_id, measurement.name, *shown, cost.peak_module or "-"]


def memory_lines(measurements: Sequence[Measurement]) -> list[str]:
    """The size and memory of each measurement: every parameter, the weights' bytes, the peak
    bytes of one forward's activations (the whole batch) and the module running at the peak."""
    lines = render_rows(MEMORY_COLUMNS, [memory_row(m) for m in measurements], _NUMERIC)
    lines.append(phrases.MEMORY_NOTE)
    return lines


def summary_lines(
    measurements: Sequence[Measurement], enforcement: str, show_layers: bool, depth: int | None = None,
    fold: bool = True, show_memory: bool = False,
) -> list[str]:
    """The ``--conv-report`` table, its notes, and the costliest layers of what is over budget
    (every layer of every measurement with ``--conv-report=layers``, repeated blocks folded unless
    ``fold`` is off; summed per block at ``depth`` path parts when it is given)."""
    if not measurements:
        return [phrases.NO_MEASUREMENTS]
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
    lines.append(phrases.per_line({m.per for m in measurements}))
    if show_memory or any(limit.figure in SIZE_FIGURES for m in measurements for limit in m.limits):
        lines += ["", *memory_lines(measurements)]
    for measurement in measurements:
        notes = [*phrases.kinds_note(measurement.cost), *phrases.notes(measurement.cost)]
        if notes:
            lines.append(f"{measurement.test_id} [{measurement.name}]: " + "; ".join(notes))
    for measurement in measurements:
        if measurement.over_budget and not show_layers:
            lines += ["", phrases.exceeded_title(measurement) + ", costliest layers:"]
            lines += ["  " + line for line in costliest_rows(measurement, fold)]
    if show_layers:
        for measurement in measurements:
            cost = measurement.cost
            lines += ["", f"{measurement.test_id} [{measurement.name}] ({cost.device}):"]
            table = render_blocks(cost, depth, fold) if depth is not None else render_layers(
                cost.layers, len(cost.count) > 1, fold)
            lines += ["  " + line for line in table]
    return [visible(line) for line in lines]


# -- a run report ------------------------------------------------------------------


def render_text(report: RunReport) -> str:
    """The terminal form: the plugin's "conv budget" section and ``diff``'s default output."""
    fold = report.fold
    lines = comparison_lines(report.comparison, report.baseline_label or "", report.baseline_commit, fold) \
        if report.comparison else []
    if report.over_budget:
        lines.append(phrases.over_budget_heading(len(report.over_budget)))
        for failure in report.over_budget:
            measurement = failure.measurement
            standing = phrases.STANDING_TEXT[failure.standing]
            lines.append(f"  {measurement.test_id} [{measurement.name}]" + (f" ({standing})" if standing else ""))
            lines += [f"    {phrases.overrun_text(overrun, per=measurement.per)}" for overrun in measurement.overruns]
            costliest = phrases.costliest_line(measurement, fold=fold)
            if costliest:
                lines.append(f"    {costliest}")
    if report.regressions:
        lines.append(phrases.regressions_heading(len(report.regressions)))
        lines += [f"  {phrases.regression_text(regression, fold=fold)}" for regression in report.regressions]
    if report.mismatched:
        lines.append(phrases.mismatched_heading(len(report.mismatched)))
        lines += [f"  {phrases.mismatch_text(mismatch)}" for mismatch in report.mismatched]
    lines.append(phrases.verdict_line(report))
    return "\n".join(map(visible, lines)) + "\n"


def comparison_lines(
    comparison: Comparison, baseline_label: str, commit: str | None = None, fold: bool = True
) -> list[str]:
    """Before -> after per changed measurement, its layers (repeated blocks of one status folded),
    what is new, gone or stale."""
    lines = [phrases.compared_heading(baseline_label, commit)]
    changed = comparison.changed
    if changed:
        from ..ci.compare import compared_sizes

        sizes = compared_sizes(changed)  # budgeted size figures get a column each
        rows = [
            [change.test_id, change.name, *(phrases.change_text(change.figure(f)) for f in ("params", "flops", "macs")),
             *(phrases.change_text(found) if (found := change.compares(f)) else "-" for f in sizes)]
            for change in changed
        ]
        lines += render_rows((*CHANGE_COLUMNS, *(FIGURE_LABELS[f] for f in sizes)), rows, set())
        for change in changed:
            groups = folding.fold_changes(change.layers, fold)
            moved = groups[:LAYERS_LISTED_PER_CHANGE]
            if moved:
                described = ", ".join(phrases.moved_text(group) for group in moved)
                more = len(groups) - len(moved)
                lines.append(f"  {change.test_id} [{change.name}] layers: {described}" + (f", and {more} more" if more > 0 else ""))
            kinds = phrases.kinds_change_text(change)
            if kinds:
                lines.append(f"  {change.test_id} [{change.name}] {kinds}")
    lines += [phrases.new_text(e.measurement.test_id, e.measurement.name, e.measurement.cost.flops) for e in comparison.added]
    lines += [phrases.removed_text(e.measurement.test_id, e.measurement.name) for e in comparison.removed]
    if comparison.not_run:
        lines.append(phrases.not_run_text(len(comparison.not_run)))
    lines += [phrases.stale_text(change, figure) for change, figure in comparison.stale()]
    return lines
