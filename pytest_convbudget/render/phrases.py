"""The phrasebook: every sentence a person reads about a measurement or a run, written once.

The terminal, the PR comment, the comparison JSON, the HTML page, the gate's
file lines and the plugin's messages take their words from here; result
objects (``ConvCost``, ``Measurement``, ``RunReport``) hold data only. Tests
import these phrases to assert on the real text. Only a format's own markup
(a table's columns, a comment's backticks and arrows) stays in that format's
module. A usage error about bad input is written by the one function that
validates that input, and raised as a class of :mod:`..words.errors`.

Names come from run files a pull request writes, so a sentence never writes
one bare: it shows each through ``show``, :func:`.markup.visible` by default
(the terminal's form); the comment passes :func:`.markup.markdown_text`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ..words.quantity import format_against_limit, format_bytes, format_figure, format_figure_change, format_quantity
from ..words.vocabulary import (
    CHANGED,
    COLLECT_ONLY,
    COLLECTION_ERRORS,
    DEFAULT_COUNT,
    FIGURE_LABELS,
    NEW,
    INTERNAL_ERROR,
    NO_FORMULA_KIND,
    NOT_COMPARED,
    ROOT_NAME,
    STOPPED,
    UNCHANGED,
    WORKER_CRASHED,
)
from . import folding
from .markup import visible

if TYPE_CHECKING:
    from ..budgets.limits import Overrun
    from ..budgets.measurement import Measurement
    from ..ci.compare import (
        CountMismatch,
        FigureChange,
        LayerChange,
        MeasurementChange,
        Regression,
    )
    from ..ci.coverage import Coverage
    from ..ci.ending import Ending
    from ..ci.selection import Narrowing
    from ..ci.verdict import Drift, RunReport
    from ..engine.results import ConvCost, LayerCost, UncountedCall
    from .folding import Folded

Show = Callable[[str], str]  # how a sentence shows a name from a run file

SECTION = "conv budget"  # the terminal section's title, the verdict's prefix, the comment's name

# -- figures ---------------------------------------------------------------


def exact_and_short(value: int) -> str:
    """``8,163,158,528 (8.16 G)``: the exact count and its short form."""
    return f"{value:,} ({format_quantity(value)})" if value >= 1000 else f"{value:,}"


def count_label(count: Sequence[str], show: Show = visible) -> str:
    """``conv``, ``conv and linear``, ``conv, linear and matmul``: for totals and headings."""
    names = [show(kind) for kind in count]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def percent_text(change: FigureChange) -> str:
    if change.delta == 0:
        return "0%"
    if change.percent == float("inf"):
        return "new"
    return f"{change.percent:+.1f}%"


def change_text(change: FigureChange, arrow: str = "->") -> str:
    """``1.41 G -> 2.21 G (+56.3%)``, or just the value when it did not move."""
    if change.delta == 0:
        return format_figure(change.figure, change.after)
    before, after = format_figure_change(change.figure, change.before, change.after)
    return f"{before} {arrow} {after} ({percent_text(change)})"


# -- one measurement against its limits --------------------------------------


BASIS = {"sample": "per sample", "batch": "per batch", "token": "per token"}  # what FLOPs and MACs are of


def figure_label(figure: str, per: str = "sample") -> str:
    """A figure's name as its limit compares it: FLOPs and MACs per batch or per token say so
    (the layers, the kinds and the charts beside them are per sample, which says itself then)."""
    label = FIGURE_LABELS[figure]
    return f"{label} {BASIS[per]}" if figure in ("flops", "macs") and per != "sample" else label


def overrun_text(overrun: Overrun, show: Show = visible, per: str = "sample") -> str:
    """``FLOPs 11.0 G (11,027,005,440) > limit 10.0 G (10,000,000,000) by 10.3% [limit from ...]``;
    ``FLOPs per token ...`` on a per-token budget; a size and its limit in one unit."""
    limit = overrun.limit
    over = "" if limit.value == 0 else f" by {overrun.percent_over:.1f}%"
    value, bound = format_against_limit(overrun.figure, overrun.value, limit.value)
    return (
        f"{figure_label(overrun.figure, per)} {value} ({overrun.value:,}) > limit "
        f"{bound} ({limit.value:,}){over} [limit from {show(limit.source)}]"
    )


def peak_line(measurement: Measurement, show: Show = visible) -> str:
    """Where the forward held the most, said when the activations are over their limit."""
    if not any(overrun.figure == "activations" for overrun in measurement.overruns):
        return ""
    return f"activations peak while {show(measurement.cost.peak_module or ROOT_NAME)} runs"


# -- layers, as a person reads their names ----------------------------------------

TOP_LAYERS = 3  # the costliest layers a failure names


def layer_label(name: str, call: int = 1, count: int = 1) -> str:
    """``attn``; ``attn, call 2`` for a module's second call; ``layers.*.mlp.fc1 ×12`` for a
    group of twelve rows that differ only by an index (:mod:`.folding`)."""
    called = name if call == 1 else f"{name}, call {call}"
    return called if count == 1 else f"{called} ×{count}"


def group_label(group: Folded[LayerCost] | Folded[LayerChange]) -> str:
    """A folded row's name: the pattern and the count, with the call number of a profile's calls."""
    return layer_label(group.name, getattr(group.members[0], "call", 1), group.count)


def costliest_layers(measurement: Measurement, fold: bool = True, count: int = TOP_LAYERS) -> list[tuple[str, int]]:
    """(label, value) of the rows that cost most by the measurement's costliest figure,
    repeated blocks folded into one row with their total (``layers.*.mlp.fc1 ×12 1.61 M``)."""
    return [(group_label(group), total) for group, total in folding.costliest(measurement, count, fold)]


def costliest_line(measurement: Measurement, show: Show = visible, fold: bool = True) -> str:
    """``costliest layers by FLOPs: conv1 235 M, ...``, or empty for a model without layers."""
    top = ", ".join(f"{show(label)} {format_quantity(value)}" for label, value in costliest_layers(measurement, fold))
    return f"costliest layers by {costliest_label(measurement)}: {top}" if top else ""


def costliest_label(measurement: Measurement) -> str:
    """The figure the costliest layers are ranked by, with its basis (per sample) where the
    measurement's budgets compare another."""
    figure = measurement.costliest_figure
    per = "" if measurement.per == "sample" or figure == "params" else f" {BASIS['sample']}"
    return FIGURE_LABELS[figure] + per


def exceeded_title(measurement: Measurement, show: Show = visible) -> str:
    return f"{SECTION} exceeded: {show(measurement.name)} in {show(measurement.test_id)}"


def failure_message(measurement: Measurement, fold: bool = True) -> str:
    """What a test over budget fails with: what grew, by how much, against which limit, and
    the layers that cost most."""
    lines = [exceeded_title(measurement)]
    lines += [f"  {overrun_text(overrun, per=measurement.per)}" for overrun in measurement.overruns]
    peak = peak_line(measurement)
    if peak:
        lines.append(f"  {peak}")
    costliest = costliest_line(measurement, fold=fold)
    if costliest:
        lines.append(f"  {costliest}")
    return "\n".join(lines)


def status_text(measurement: Measurement, enforcement: str) -> str:
    if not measurement.limits:
        return "no budget"
    if not measurement.over_budget:
        return "ok"
    return {"fail": "OVER", "warn": "over (warn)", "off": "over (off)"}[enforcement]


def budget_text(measurement: Measurement) -> str:
    return ", ".join(
        f"{FIGURE_LABELS[limit.figure]} {format_figure(limit.figure, limit.value)}" for limit in measurement.limits
    ) or "-"


# -- what a profile counted, and what it did not -----------------------------


def kinds_note(cost: ConvCost, show: Show = visible) -> list[str]:
    """What a measurement counted, when it is more than the default conv modules, with the
    per-sample FLOPs of each kind."""
    if cost.count == DEFAULT_COUNT:
        return []
    shares = ", ".join(f"{show(kind)} {format_quantity(share.flops)}" for kind, share in cost.by_kind().items())
    return [f"counted {count_label(cost.count, show)} (FLOPs by kind: {shares})"]


def totals_lines(cost: ConvCost, show: Show = visible) -> list[str]:
    """The totals under a profile's layer table."""
    kinds = count_label(cost.count, show) if len(cost.count) <= 2 else "counted"
    lines = [
        f"total {kinds} parameters: {exact_and_short(cost.params)}"
        f"   (model parameters: {exact_and_short(cost.model_params)})",
        f"total {kinds} FLOPs: {exact_and_short(cost.flops)} per sample,"
        f" {exact_and_short(cost.total_flops)} for the batch of {cost.batch_size}",
        f"total {kinds} MACs: {exact_and_short(cost.macs)} per sample,"
        f" {exact_and_short(cost.total_macs)} for the batch of {cost.batch_size}",
    ]
    if cost.weight_bytes is not None and cost.activation_bytes is not None:
        lines.append(
            f"memory: weights {format_bytes(cost.weight_bytes)} ({cost.weight_bytes:,} bytes); activations peak "
            f"{format_bytes(cost.activation_bytes)} ({cost.activation_bytes:,} bytes) for the batch of "
            f"{cost.batch_size}, while {show(cost.peak_module or ROOT_NAME)} ran"
        )
    if not cost.per_sample_exact:
        lines.append("note: a layer saw a batch not divisible by the profiled batch size; per-sample figures are rounded")
    return lines


def notes(cost: ConvCost, show: Show = visible) -> list[str]:
    """What is NOT in the totals: idle modules, ops of kinds not counted, and extra
    ops inside counted modules; and why a profile ran where it did."""
    lines = []
    if cost.idle_modules:
        names = ", ".join(
            f"{show(idle.name)} ({show(idle.type)}, {idle.params:,} params)" for idle in cost.idle_modules
        )
        lines.append(f"never ran, not in the totals: {names}")
    unformulated = [call for call in cost.uncounted if call.kind == NO_FORMULA_KIND]
    outside = [call for call in cost.uncounted if not call.inside and call.kind != NO_FORMULA_KIND]
    if outside:
        lines.append(f"not in the totals (count = {', '.join(map(show, cost.count))}): " + "; ".join(
            f"{len(calls)} {show(kind)} op(s) ({', '.join(sorted({show(call.function) for call in calls}))}; "
            f"{exact_and_short(sum(call.total_flops for call in calls))} FLOPs for the batch)"
            for kind, calls in _by_kind(outside).items()
        ))
    inside = [call for call in cost.uncounted if call.inside and call.kind != NO_FORMULA_KIND]
    if inside:
        modules = sorted({show(call.inside) for call in inside})
        lines.append(
            f"not in the totals: {len(inside)} extra op(s) inside {', '.join(modules)} beside each module's own"
            f" ({', '.join(sorted({show(call.function) for call in inside}))};"
            f" {exact_and_short(sum(call.total_flops for call in inside))} FLOPs for the batch)"
        )
    if unformulated:
        lines.append(no_formula_text(unformulated, show))
    if cost.fallback_reason:
        lines.append(f"device: {show(cost.device)}, {show(cost.fallback_reason)}")
    return lines


def no_formula_text(calls: Sequence[UncountedCall], show: Show = visible) -> str:
    """Work the cost model has no formula for, by op and call count: ``not counted: no formula:
    _fft_r2c ×2, _linalg_solve_ex ×1``."""
    found: dict[str, int] = {}
    for call in calls:
        found[call.function] = found.get(call.function, 0) + 1
    return "not counted: no formula: " + ", ".join(f"{show(name)} ×{count}" for name, count in found.items())


def _by_kind(calls: Sequence[UncountedCall]) -> dict[str, list[UncountedCall]]:
    grouped: dict[str, list[UncountedCall]] = {}
    for call in calls:
        grouped.setdefault(call.kind, []).append(call)
    return grouped


OUTWEIGHED_TITLE = "Uncounted work outweighs the counted"


def outweighed_text(measurement: Measurement, show: Show = visible) -> str:
    """Why a budgeted measurement's figures miss most of its model, and the ``count`` that would not."""
    cost = measurement.cost
    work = cost.uncounted_work()
    from ..engine.kinds import KINDS  # the registry's order; imports no torch

    wider = [kind for kind in KINDS if kind in cost.count or kind in work]
    setting = "count = [" + ", ".join(f'"{kind}"' for kind in wider) + "]"
    everything = 'count = "all"'
    return (
        f"{count_label(list(work), show)} ops ran {exact_and_short(sum(work.values()))} FLOPs for the batch "
        f"that are not in the totals (counted: {exact_and_short(cost.total_flops)}); "
        f"{show(setting)} (or {show(everything)}) would include them"
    )


def per_line(per: set[str]) -> str:
    """The summary table's footnote: which figures budgets compare."""
    if "token" in per:
        covered = ", ".join([*(["sample"] if "sample" in per else []), *(f"{p} where per={p}" for p in ("batch", "token") if p in per)])
    else:
        covered = "sample" if per == {"sample"} else "batch where per=batch"
    return f"FLOPs and MACs are per {covered}; budgets compare the same figures"


MEMORY_NOTE = ("activations: the peak bytes of the tensors one forward holds at once, for the "
               "whole batch profiled (weights and inputs not included)")


# -- a run against its baseline ------------------------------------------------

STALE_NOTE = "refresh the baseline"
STANDING_TEXT = {NEW: "new", CHANGED: "changed", UNCHANGED: "unchanged since the baseline", NOT_COMPARED: ""}
STANDING_NOTE = {NEW: " (new)", CHANGED: " (changed)", UNCHANGED: " (unchanged)", NOT_COMPARED: ""}  # the comment's
OVER_BUDGET_TITLE = "Over budget"  # the comment's section titles; the last two are the page's too
REGRESSIONS_TITLE = "Grew past the allowed increase"
MISMATCHED_TITLE = "Not compared: counted with other kinds than the baseline"
NO_MEASUREMENTS = "no conv_cost measurements in this run"


def over_budget_heading(count: int) -> str:
    """The terminal's section titles."""
    return f"OVER BUDGET: {count} measurement(s) over their limits:"


def regressions_heading(count: int) -> str:
    return f"REGRESSION: {count} measurement(s) grew more than allowed:"


def mismatched_heading(count: int) -> str:
    return f"BASELINE MISMATCH: {count} measurement(s) counted with other kinds than the baseline:"


def compared_heading(baseline_label: str, commit: str | None = None) -> str:
    of_commit = f" (commit {visible(commit)})" if commit else ""
    return f"compared with baseline {visible(baseline_label)}{of_commit}:"


FULL_REPORT = "HTML report"


def provenance_line(commit: str | None, page_url: str | None, show: Show = visible,
                    link: Callable[[str, str], str] = lambda text, url: f"{text}: {visible(url)}") -> str:
    """Where the comparison came from and where its page is: ``Baseline: commit 1a2b3c4 · the full report``."""
    parts = [f"Baseline: commit {show(commit)}"] if commit else []
    if page_url:
        parts.append(link(FULL_REPORT, page_url))
    return " · ".join(parts)


def verdict_line(report: RunReport) -> str:
    """The terminal's and ``diff``'s last line."""
    return f"{SECTION}: {headline(report)}"


def new_text(test_id: str, name: str, flops: int, show: Show = visible) -> str:
    return f"new: {show(test_id)} [{show(name)}] ({format_quantity(flops)} FLOPs)"


def removed_text(test_id: str, name: str, show: Show = visible) -> str:
    return f"removed: {show(test_id)} [{show(name)}] (in the baseline, not in this run)"


GITHUB_SIZE_NOTE = "left out to stay within GitHub's comment size; see the JSON artifact"
PAGE_HAS_ALL = "the HTML report"  # the link text of the left-out notes, when the page is published


def size_note(link: Callable[[str], str] | None = None) -> str:
    """Why something is left out of the comment, and where it is: the page when it is published."""
    if link is None:
        return GITHUB_SIZE_NOTE
    return f"left out to stay within GitHub's comment size; {link(PAGE_HAS_ALL)} has them all"


def left_out(count: int, what: str, link: Callable[[str], str] | None = None) -> str:
    """A comment section trimmed to stay under GitHub's size limit says what it left out."""
    return f"_… {count} more {what} {size_note(link)}._"


def details_left_out(count: int, link: Callable[[str], str] | None = None) -> str:
    return f"_{count} model(s)' layer details {size_note(link)}._"


def listed_above(count: int, total: int, title: str) -> str:
    """A failure section's note for the measurements an earlier section already names."""
    which = ("It is" if total == 1 else f"All {total} are") if count == total else f"{count} of them are"
    return f"_{which} listed under {title} above._"


def other_changes_title(count: int) -> str:
    """The comment's table of changes, once the failures above have named the rest."""
    return f"Other changes ({count})"


def show_more(count: int) -> str:
    """The page's fold of a long list."""
    return f"show {count} more"


def unchanged_not_shown(count: int) -> str:
    return f"{count} unchanged measurement(s) not shown."


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
    """The verdict that tops every format: ``0 of 10 measurements changed, 0 new, 0 removed;
    1 over budget``, and the like; led by how an incomplete run ended, followed by the versions
    the baseline does not share with this run."""
    lead = f"{INCOMPLETE_WORD}: {incomplete_text(report.incomplete)}; " if report.incomplete else ""
    drift = f"; {drift_text(report.drift)}" if report.drift else ""
    return lead + _findings(report) + drift


def _findings(report: RunReport) -> str:
    counts = report.counts
    wrong = problems(report)
    if report.comparison is None:
        over = wrong[0] if report.over_budget else "0 over budget"
        return f"{counts.measurements} measurements, {over}; no baseline to compare with"
    if not (wrong or counts.changed or counts.added or counts.removed):
        not_run = f" ({counts.not_run} of the baseline's not run here)" if counts.not_run else ""
        noun = "measurement" if counts.measurements == 1 else "measurements"
        return f"no change in {counts.measurements} {noun}{not_run}"
    not_run = f", {counts.not_run} not run here" if counts.not_run else ""
    return (
        f"{counts.changed} of {counts.measurements} measurements changed, {counts.added} new, "
        f"{counts.removed} removed{not_run}; {', '.join(wrong) or 'all within limits'}"
    )


def not_whole_suite(coverage: Coverage | None) -> str:
    """Why merged shards are not the whole suite (a baseline job refuses them)."""
    if coverage is None:
        return "a shard was written by pytest-convbudget 0.2, which did not record the tests it ran"
    if not coverage.collected_whole_suite:
        return "no shard collected the whole suite (paths or node ids on the command line)"
    return f"{len(coverage.not_run)} measuring test(s) ran in no shard, such as {visible(coverage.not_run[0])}"


def merged_shards(count: int, path: Path, measurements: int, coverage: Coverage | None) -> str:
    whole = "the whole suite" if coverage is not None and coverage.whole else f"not the whole suite: {not_whole_suite(coverage)}"
    return f"merged {count} run files into {path}: {measurements} measurements; {whole}"


def not_run_text(count: int) -> str:
    """The baseline's measurements whose tests this run did not run: said once, never listed as removed."""
    return (f"not run here: {count} measurement(s) of the baseline, whose tests this run did not run "
            "(another shard's, or deselected); not compared")


def grown_in(regression: Regression, show: Show = visible, fold: bool = True, count: int = TOP_LAYERS) -> str:
    """``grew in layers.*.mlp.fc1 ×12, layers.*.mlp.fc2 ×12``: the first layers that grew or
    were added, repeated blocks folded; "" when none did."""
    grown = folding.grown(regression, fold)
    if not grown:
        return ""
    more = f", and {len(grown) - count} more" if len(grown) > count else ""
    return f"grew in {', '.join(show(group_label(group)) for group in grown[:count])}{more}"


def regression_figures(regression: Regression, arrow: str = "->", exact: bool = True) -> str:
    """``params +56.2% (350 k -> 547 k), FLOPs +55.8% (...)``: each figure past the allowance."""
    return ", ".join(
        f"{FIGURE_LABELS[f.figure]} +{f.percent:.1f}%" + (_before_after(f, arrow) if exact else "")
        for f in regression.figures
    )


def _before_after(change: FigureChange, arrow: str) -> str:
    before, after = format_figure_change(change.figure, change.before, change.after)
    return f" ({before} {arrow} {after})"


def regression_text(regression: Regression, show: Show = visible, fold: bool = True) -> str:
    """One regression in a line: every figure past the allowance, before -> after, and where it grew."""
    where = grown_in(regression, show, fold)
    change = regression.change
    return (f"{show(change.test_id)} [{show(change.name)}]: {regression_figures(regression)}, "
            f"more than the {regression.allowed:g}% allowed" + (f"; {where}" if where else ""))


def also_grew(regression: Regression, show: Show = visible, fold: bool = True, arrow: str = "->") -> str:
    """What a measurement named for another reason (over budget) adds about its growth."""
    where = grown_in(regression, show, fold)
    return (f"grew more than the {regression.allowed:g}% allowed: {regression_figures(regression, arrow)}"
            + (f"; {where}" if where else ""))


def regression_group_text(
    regressions: Sequence[Regression], show: Show = visible, fold: bool = True, compact: bool = False
) -> str:
    """Regressions that grew in the same layers, in one line: the layers once, the figures once
    when they all grew alike, then each measurement (with what it grew by, when they differ;
    ``compact``: by name alone). One regression reads as :func:`regression_text`."""
    first = regressions[0]
    if len(regressions) == 1 and not compact:
        return regression_text(first, show, fold)
    where = grown_in(first, show, fold)
    figures = {regression_figures(r, exact=False) for r in regressions}
    alike = len(figures) == 1 and not compact
    members = "; ".join(
        f"{show(r.change.test_id)} [{show(r.change.name)}]"
        + ("" if compact or alike else f" {regression_figures(r, exact=False)}")
        for r in regressions
    )
    many = f"{len(regressions)} measurements" if len(regressions) > 1 else "1 measurement"
    by = f" by {figures.pop()}," if alike else ""
    return (f"{many} grew{by} more than the {first.allowed:g}% allowed" + (f"; each {where}" if where else "")
            + f": {members}")


def moved_text(group: Folded[LayerChange], show: Show = visible) -> str:
    """One changed layer, or a group of them of one status: ``layers.*.mlp.fc1 ×12 grown (+50.0% FLOPs)``."""
    status = group.members[0].status
    label = show(group_label(group))
    if status not in ("grown", "shrunk"):
        return f"{label} {status}"
    before, after = folding.change_totals(group)
    from ..ci.compare import FigureChange

    return f"{label} {status} ({percent_text(FigureChange('flops', before, after))} FLOPs)"


def mismatch_text(mismatch: CountMismatch, show: Show = visible) -> str:
    """Why a measurement was not compared with its baseline entry."""
    before, after = mismatch.before.measurement, mismatch.after.measurement
    return (
        f"{show(after.test_id)} [{show(after.name)}]: not compared: the baseline counted "
        f"{count_label(before.cost.count, show)}, this run counts {count_label(after.cost.count, show)}; "
        "save the baseline again to compare these figures"
    )


def kinds_change_text(change: MeasurementChange, arrow: str = "->", show: Show = visible) -> str:
    """What a changed measurement counted and each kind's FLOPs before and after, when
    it counted more than the default conv modules; "" otherwise."""
    count = change.after.measurement.cost.count
    if count == DEFAULT_COUNT:
        return ""
    shares = ", ".join(
        f"{show(kind)} {format_quantity(before)} {arrow} {format_quantity(after)}"
        for kind, (before, after) in change.flops_by_kind().items()
    )
    return f"counted {count_label(count, show)} (FLOPs by kind: {shares})"


def stale_text(change: MeasurementChange, figure: FigureChange, show: Show = visible) -> str:
    return (f"stale baseline: {show(change.test_id)} [{show(change.name)}]: {FIGURE_LABELS[figure.figure]} fell "
            f"{-figure.percent:.1f}%: {STALE_NOTE}")


# -- the gate's files ----------------------------------------------------------

DESELECT_SOURCES = "-k, -m, --deselect, --lf, --sw or a plugin"


def narrowed_text(narrowing: Narrowing) -> str:
    """Why a run that covered part of the suite may not replace the baseline, in a few words."""
    if narrowing.args:
        args = narrowing.args
        shown = ", ".join(args[:3]) + (f" and {len(args) - 3} more" if len(args) > 3 else "")
        return f"the command line ran only part of the suite ({shown})"
    if narrowing.last_failed:
        return "--lf ran only the tests that failed last time"
    return f"{narrowing.deselected} collected test(s) were deselected ({DESELECT_SOURCES})"


def ending_text(ending: Ending, show: Show = visible) -> str:
    """How far an incomplete session got, in a few words: ``interrupted after 308 of 500 measuring tests``."""
    progress = f"after {ending.ran} of {ending.measuring} measuring tests"
    detail = show(ending.detail) if ending.detail else ""
    lost = ending.lost
    if ending.state == WORKER_CRASHED:
        more = f", and {len(lost) - 1} more" if len(lost) > 1 else ""
        first = f" ({show(lost[0])}{more})" if lost else ""
        text = f"a worker crashed: {len(lost)} measuring test(s) lost{first}; {ending.ran} of {ending.measuring} ran"
        lost = ()
    elif ending.state == COLLECTION_ERRORS:
        text = (f"collection errors ({detail}): their tests never ran; {ending.ran} of {ending.measuring} "
                "measuring tests ran")
    elif ending.state == COLLECT_ONLY:
        text = "--collect-only ran no test"
    elif ending.state == STOPPED:
        text = f"stopped early {progress}{f' ({detail})' if detail else ''}"
    elif ending.state == INTERNAL_ERROR:
        text = f"ended in an internal error {progress}"
    else:
        text = f"interrupted{f' by {detail}' if detail else ''} {progress}"
    if lost:
        text += f", {len(lost)} lost to a crashed worker"
    return f"{show(ending.source)}: {text}" if ending.source else text


def incomplete_text(endings: Sequence[Ending], show: Show = visible) -> str:
    """Every incomplete session of a run (a merged run's shards each), as one clause."""
    return "; ".join(ending_text(ending, show) for ending in endings)


INCOMPLETE_WORD = "incomplete"  # what leads the verdict of a run that ended before measuring its suite


def incomplete_notice(endings: Sequence[Ending]) -> str:
    """The first line of the terminal's section for a run that ended early, baseline or not."""
    return f"{SECTION}: {INCOMPLETE_WORD}: {incomplete_text(endings)}"


DRIFT_LABELS = {"torch": "torch", "python": "Python", "pytest_convbudget": "pytest-convbudget",
                "cost_model_version": "cost model"}
DRIFT_NOTE = "some figures may differ for that reason"


def drift_text(drift: Sequence[Drift], show: Show = visible) -> str:
    """The versions the baseline was made with that this run does not share:
    ``baseline from torch 2.1.0, this run 2.13.0: some figures may differ for that reason``."""
    if len(drift) == 1:
        what = drift[0]
        return f"baseline from {DRIFT_LABELS[what.what]} {show(what.baseline)}, this run {show(what.run)}: {DRIFT_NOTE}"
    before = " and ".join(f"{DRIFT_LABELS[what.what]} {show(what.baseline)}" for what in drift)
    after = " and ".join(f"{DRIFT_LABELS[what.what]} {show(what.run)}" for what in drift)
    return f"baseline from {before}, this run from {after}: {DRIFT_NOTE}"


def incomplete_refusal(endings: Sequence[Ending], flag: str) -> str:
    """``merge``'s one line for a shard that ended early."""
    return f"{incomplete_text(endings)}: an incomplete shard measured less than its part of the suite (--{flag} merges it anyway, and the verdict names it)"


MERGE_HINT = "--conv-merge-baseline updates only the measured entries"
RUN_FILE = "run file"  # what each data file is called in "wrote ..." lines (a format's: its entry in render.outputs)
BASELINE = "baseline"


def written(label: str, path: Path, detail: str = "") -> str:
    return f"wrote {label} {path}{detail}"


def measurements_detail(count: int) -> str:
    return f" ({count} measurements)"


def merged_detail(updated: int, count: int) -> str:
    return f" (merged: {updated} measured test(s) updated, {count} measurements)"


def not_written(label: str, path: Path, why: str) -> str:
    """The one line an output that can't be written gets, in the gate and under ``profile --html``."""
    return f"cannot write {label} {path}: {why}"


def not_saved(path: Path, why: str, hint: str = "") -> str:
    return f"baseline not saved to {path}: {why}; the old file is left as it was" + (f" ({hint})" if hint else "")


def merge_refusal(path: Path) -> str:
    return (f"{path}: no baseline to merge into: --conv-merge-baseline updates an existing baseline "
            "(save a whole one first with --conv-save-baseline)")


SAVE_AND_MERGE = "--conv-save-baseline and --conv-merge-baseline: give one of them"
REQUIRE_WITHOUT_PATH = "--conv-require-baseline was given, but no --conv-baseline PATH to compare with"


def required_baseline_missing(path: Path) -> str:
    return f"{path}: baseline file not found, and a baseline is required"


def no_baseline(path: Path | None) -> str:
    return (f"no baseline at {path}: nothing compared "
            "(save one with --conv-save-baseline; --conv-require-baseline makes this fail)")


def step_summary_failed(summary: str, error: OSError) -> str:
    return f"cannot append to $GITHUB_STEP_SUMMARY ({summary}): {error}"


# -- the plugin's own messages ---------------------------------------------------


def measured_nothing(test_id: str) -> str:
    return (f"{visible(test_id)} has @pytest.mark.budget but measured no model: "
            "call conv_cost(model, *inputs) in the test")


def names_no_measurement(test_id: str, source: str, measured: set[str]) -> str:
    shown = ", ".join(sorted(map(visible, measured)))
    return f"{visible(test_id)}: {visible(source)} names no measurement of this test (measured: {shown})"


def unmatched_pattern(label: str, pattern: str) -> str:
    return f"warning: {label} [tool.convbudget.budgets] {pattern!r} matches no collected test"


def final_line_word(noun: str, suffix: str = "", plural: str | None = None) -> tuple[str, str]:
    """The singular and plural words of one finding on pytest's last line: ``conv budget regression(s)``."""
    return f"{SECTION} {noun}{suffix}", f"{SECTION} {plural or noun + 's'}{suffix}"


OVERRUN_WORDS = final_line_word("overrun", " (warn)")
REGRESSION_WORDS = final_line_word("regression")
MISMATCH_WORDS = final_line_word("baseline mismatch", plural="baseline mismatches")
NOT_WRITTEN_WORDS = final_line_word("file not written", plural="files not written")
NOT_SAVED_WORDS = final_line_word("baseline not saved", plural="baselines not saved")
INCOMPLETE_WORDS = final_line_word("incomplete run")
