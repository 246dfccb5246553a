"""The self-contained HTML report: one file, opened offline from disk or as a CI artifact.

Styles and script are inlined from the files beside this module, and the
charts are drawn in the page as inline SVG, so nothing is fetched. Jinja2
(already a dependency of torch, and pytest-html's choice) fills the
template with HTML escaping on. Imported only when a report is asked for.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

from ...words.errors import OutputUnavailable
from .view import build_view

if TYPE_CHECKING:
    from ...ci.verdict import RunReport

TEMPLATE = "page.html.j2"  # the template, style and script sit beside this module
STYLE = "page.css"
SCRIPT = "page.js"
# A measurement's row in the page's data; ``detail``, ``memory``, ``notes`` and each of ``figures`` and
# ``size_figures`` are places in their pools.
ROW_FIELDS = ("test_id", "name", "model", "status", "status_class", "over", "regressed", "regression", "mismatch",
              "baseline", "budget", "headroom", "used", "figures", "size_figures", "memory", "notes", "detail", "open")
FIGURE_FIELDS = ("figure", "value", "short", "limit", "before")  # limit: value, short, source, used, over;
# before: value, short, delta, percent
POOLED = ("detail", "memory", "notes")
POOLS = (*POOLED, "figure")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


class HtmlReportError(OutputUnavailable):
    """The report cannot be drawn here; the message says what to install."""


def render_view(view: dict[str, Any]) -> str:
    """Draw a view model from :func:`.view.build_view` as one HTML page."""
    try:
        import jinja2
    except ImportError:
        raise HtmlReportError("the HTML report needs Jinja2: pip install 'pytest-convbudget[html]'") from None

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    # Compact data. ``tojson`` writes < > & ' as \u escapes, so no name can close its <script>;
    # ensure_ascii stays on, so control and bidi characters travel as \u escapes too.
    environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    template = environment.from_string(_asset(TEMPLATE))
    return template.render(view=view, data=page_data(view), css=_inline(STYLE), js=_inline(SCRIPT))


def page_data(view: dict[str, Any]) -> dict[str, Any]:
    """The view as the page's one JSON blob: each measurement one row of values in
    :data:`ROW_FIELDS` order, and what the view shares between rows (a model's section data, its
    memory line and notes, a figure with its limit and change) once, in a pool the row points into;
    a figure is one row of :data:`FIGURE_FIELDS`."""
    pools: dict[str, list[Any]] = {name: [] for name in POOLS}
    places: dict[int, int] = {}

    def pooled(pool: str, value: Any, packed: Any = None) -> int | None:
        if value is None:
            return None
        if id(value) not in places:  # the view shares one object per model, per figure: pooled by identity
            places[id(value)] = len(pools[pool])
            pools[pool].append(value if packed is None else packed(value))
        return places[id(value)]

    rows = []
    for row in view["measurements"]:
        values = {**row, **{name: pooled(name, row[name]) for name in POOLED}}
        for name in ("figures", "size_figures"):
            values[name] = [pooled("figure", figure, _figure) for figure in row[name]]
        rows.append([values[name] for name in ROW_FIELDS])
    return {"row_fields": ROW_FIELDS, "figure_fields": FIGURE_FIELDS, "labels": view["labels"],
            "colours": view["colours"], "compared": view["compared"], "drawn": view["drawn"], "rows": rows, **pools}


def _figure(figure: dict[str, Any]) -> list[Any]:
    """A figure as a row of :data:`FIGURE_FIELDS`; its exact digits are written by the page's script
    from ``value`` (``BigInt``), its label looked up once."""
    limit, before = figure["limit"], figure["before"]
    return [figure["figure"], figure["value"], figure["short"],
            None if limit is None else [limit["value"], limit["short"], limit["source"], limit["used"], limit["over"]],
            None if before is None else [before["value"], before["short"], before["delta"], before["percent"]]]


def _inline(name: str) -> Any:
    """Our own style or script, inlined verbatim (not escaped); it must not close its element."""
    from markupsafe import Markup

    text = _asset(name)
    if "</" in text:
        raise ValueError(f"{name} must not contain '</': it is inlined into a <style> or <script> element")
    return Markup(text)


def render_html(report: RunReport, title: str | None = None) -> str:
    """The page for a run report: ``outputs.OUTPUTS["html"]``, so the gate's
    ``--conv-html``, ``diff --format html`` and ``profile --html`` all draw the
    report every other format renders. Its title names the kinds the run counted
    (``conv budget`` by default), unless ``title`` is given."""
    return render_view(build_view(report, title))
