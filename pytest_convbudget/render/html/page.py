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
    return template.render(view=view, css=_inline(STYLE), js=_inline(SCRIPT))


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
