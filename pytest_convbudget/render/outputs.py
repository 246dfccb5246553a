"""Every output format of a run report, in one registry.

A renderer takes the :class:`~pytest_convbudget.verdict.RunReport` that
:func:`~pytest_convbudget.verdict.build_report` built and returns the whole
text. The plugin's gate and ``diff --format`` both look formats up here, so a
new format is one entry in :data:`RENDERERS` and both get it. ``html`` is
such an entry; its modules (and Jinja2) load only when a page is drawn, so
importing this registry stays light.
"""

from __future__ import annotations

from typing import Callable

from .gate_text import render_text
from .comparison_json import render_json
from .markdown import render_markdown
from ..ci.verdict import RunReport

Renderer = Callable[[RunReport], str]


def render_html(report: RunReport) -> str:
    """:func:`.html_report.render_html`, imported when a page is asked for."""
    from .html.page import render_html as draw

    return draw(report)


RENDERERS: dict[str, Renderer] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
    "html": render_html,
}


def render(report: RunReport, format: str) -> str:
    """The report in ``format`` (a key of :data:`RENDERERS`)."""
    return RENDERERS[format](report)
