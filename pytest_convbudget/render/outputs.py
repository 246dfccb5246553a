"""The table of outputs: every format a run report is drawn in, one entry each.

An entry is the format's name (``diff --format NAME``), where its renderer
lives, what its file is called in the gate's lines, and the plugin option
that writes it to a file. The plugin declares its options from this table,
the gate writes what they ask for, and ``diff --format`` offers every entry:
a new format is one renderer and one entry here. Renderers are imported
when a report is drawn, so reading the table at plugin load costs nothing
(and the HTML page's Jinja2 loads only for a page).

Not here: the run file (``--conv-run-file``, ``--conv-save-baseline``), which
holds the measurements themselves rather than a rendering of the verdict;
see :mod:`..ci.runfile`.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, Union

from ..words.errors import OutputUnavailable

if TYPE_CHECKING:
    from ..ci.verdict import RunReport

Renderer = Callable[["RunReport"], str]


HTML_REPORT = "HTML report"  # what the page's file is called in "wrote ..." and "cannot write ..." lines
COMPARISON_JSON = "comparison JSON"


class Output(NamedTuple):
    """One output format: called with a run report, it returns the whole text. (A named tuple:
    the plugin builds this table at every start-up, and a dataclass costs ten times more to define.)"""

    format: str  # its name for ``diff --format``
    renderer: str  # "module:function", imported on first use; ".module" is under this package
    label: str  # what its file is called in "wrote ..." and "cannot write ..." lines
    option: str | None = None  # the plugin option that writes it to PATH; None: diff only
    help: str = ""
    step_summary: bool = False  # also appended to $GITHUB_STEP_SUMMARY when that is set

    @property
    def dest(self) -> str | None:
        """The option's name in pytest's ``config.getoption``."""
        return None if self.option is None else self.option.lstrip("-").replace("-", "_")

    def __call__(self, report: RunReport) -> str:
        module, _, function = self.renderer.partition(":")
        draw: Renderer = getattr(import_module(module, __package__), function)
        return draw(report)


# A format is any callable from a run report to text; an Output adds its option and file label.
OUTPUTS: dict[str, Union[Output, Renderer]] = {
    output.format: output
    for output in (
        Output("text", ".terminal:render_text", "text"),
        Output(
            "markdown", ".markdown:render_markdown", "markdown", "--conv-markdown", step_summary=True,
            help="write the pull-request comment (markdown) to PATH; also appended to $GITHUB_STEP_SUMMARY when set",
        ),
        Output(
            "json", ".comparison_json:render_comparison_json", COMPARISON_JSON, "--conv-comparison-json",
            help="write the comparison JSON (the verdict against the baseline, as diff --format json prints it) "
            "to PATH; not the run file, which --conv-run-file writes",
        ),
        Output(
            "html", ".html.page:render_html", HTML_REPORT, "--conv-html",
            help="write the run as one self-contained HTML page to PATH (charts of where the cost goes; "
            "with --conv-baseline, what changed)",
        ),
    )
}


class NotWritten(Exception):
    """An output that could not be drawn or written; the message is the one line a person reads."""


def draw(output: Output | Renderer, report: RunReport, path: Path, label: str) -> str:
    """The output's text; a format that cannot be drawn here (no Jinja2) is :class:`NotWritten`."""
    try:
        return output(report)
    except OutputUnavailable as error:
        from .phrases import not_written

        raise NotWritten(not_written(label, path, str(error))) from None


def write(label: str, path: Path, text: str) -> None:
    """Write one file atomically; a failure is :class:`NotWritten`, never a traceback."""
    # Imported here: the plugin reads this table at start-up, which must stay light.
    from ..ci.runfile import write_atomically

    try:
        write_atomically(path, text)
    except OSError as error:
        from .phrases import not_written

        raise NotWritten(not_written(label, path, error.strerror or str(error))) from None


def file_outputs() -> list[Output]:
    """The entries a plugin option writes to a file, in table order (the order the gate writes them)."""
    return [output for output in OUTPUTS.values() if isinstance(output, Output) and output.option is not None]


def render(report: RunReport, format: str) -> str:
    """The report in ``format`` (a key of :data:`OUTPUTS`)."""
    return OUTPUTS[format](report)
