"""The CI side of a session: run files, the baseline comparison and its gate.

Runs on the process that sees every test report (the xdist controller, or
the only process of a serial run), once, when the session finishes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .budgets.pyproject import Settings
from .render.outputs import render
from .ci.runfile import RunEntry, RunFile, RunFileError, build_run_file, load_run_file, merge_runs, write_atomically
from .ci.verdict import GatePolicy, RunReport, build_report


class GateError(ValueError):
    """A baseline problem found before any test runs."""


@dataclass(frozen=True)
class GateOptions:
    json_path: Path | None = None
    save_baseline: Path | None = None
    merge_baseline: Path | None = None  # --conv-merge-baseline: update the measured entries of this file
    markdown_path: Path | None = None
    html_path: Path | None = None  # --conv-html: the run as one self-contained page
    baseline_path: Path | None = None
    max_increase: float | None = None  # from the command line; beats the table
    require_baseline: bool = False  # --conv-require-baseline: a baseline path must be given and exist
    require_existing: bool = False  # require_baseline in the table: a given path must exist
    enforcement: str = "fail"  # --conv-budget


@dataclass
class GateResult:
    lines: list[str] = field(default_factory=list)
    report: RunReport | None = None
    file_errors: int = 0  # outputs that could not be written

    @property
    def failed(self) -> bool:
        report = self.report
        return self.file_errors > 0 or (report is not None and bool(report.regressions or report.mismatched))


def merge_refusal(path: Path) -> str:
    return (f"{path}: no baseline to merge into: --conv-merge-baseline updates an existing baseline "
            "(save a whole one first with --conv-save-baseline)")


MERGE_HINT = "--conv-merge-baseline updates only the measured entries"


def not_written(label: str, path: Path, why: str) -> str:
    """The one line an output that can't be written gets, here and under ``profile --html``."""
    return f"cannot write {label} {path}: {why}"


def not_saved(path: Path, why: str, hint: str = "") -> str:
    return f"baseline not saved to {path}: {why}; the old file is left as it was" + (f" ({hint})" if hint else "")


class RegressionGate:
    def __init__(self, options: GateOptions, settings: Settings) -> None:
        self.options = options
        self.settings = settings
        self.baseline: RunFile | None = None
        self.merge_into: RunFile | None = None
        self.missing_baseline = False

    def load_baseline(self) -> None:
        """Read the baseline (and the file to merge into) at start: a bad one stops the session before tests run."""
        merge = self.options.merge_baseline
        if merge is not None:
            if self.options.save_baseline is not None:
                raise GateError("--conv-save-baseline and --conv-merge-baseline: give one of them")
            if not merge.exists():
                raise GateError(merge_refusal(merge))
            self.merge_into = self._load(merge)
        path = self.options.baseline_path
        if path is None:
            if self.options.require_baseline:
                raise GateError("--conv-require-baseline was given, but no --conv-baseline PATH to compare with")
            return
        if not path.exists():
            if self.options.require_baseline or self.options.require_existing:
                raise GateError(f"{path}: baseline file not found, and a baseline is required")
            self.missing_baseline = True
            return
        self.baseline = self._load(path)

    @staticmethod
    def _load(path: Path) -> RunFile:
        try:
            return load_run_file(path)
        except RunFileError as error:
            raise GateError(str(error)) from None

    def finish(
        self, entries: Sequence[RunEntry], device: str, incomplete: str | None = None, narrowed: str | None = None
    ) -> GateResult:
        """Write the files, judge, render. ``incomplete`` says why the run stopped short and
        ``narrowed`` why it ran only part of the suite; either keeps a baseline from being
        replaced. A merge updates only what was measured, so only ``incomplete`` stops it."""
        result = GateResult()
        run = build_run_file(entries, device)
        text = run.to_json()
        count = f" ({len(entries)} measurements)"
        if self.options.json_path is not None:
            self._write(result, "run file", self.options.json_path, text, count)
        save = self.options.save_baseline
        if save is not None:
            if incomplete:
                result.lines.append(not_saved(save, incomplete))
            elif narrowed:
                result.lines.append(not_saved(save, narrowed, MERGE_HINT))
            else:
                self._write(result, "baseline", save, text, count)
        if self.options.merge_baseline is not None and self.merge_into is not None:
            path = self.options.merge_baseline
            if incomplete:
                result.lines.append(not_saved(path, incomplete))
            else:
                merged, updated = merge_runs(self.merge_into, run)
                self._write(result, "baseline", path, merged.to_json(),
                            f" (merged: {updated} measured test(s) updated, {len(merged.entries)} measurements)")
        policy = GatePolicy.from_settings(self.settings, self.options.max_increase, self.options.enforcement)
        label = None if self.options.baseline_path is None else str(self.options.baseline_path)
        result.report = build_report(run, self.baseline, policy, label)
        if self.baseline is not None:
            result.lines += render(result.report, "text").splitlines()
        elif self.missing_baseline:
            result.lines.append(f"no baseline at {self.options.baseline_path}: nothing compared "
                                "(save one with --conv-save-baseline; --conv-require-baseline makes this fail)")
        if self.options.markdown_path is not None:
            body = render(result.report, "markdown")
            self._write(result, "markdown", self.options.markdown_path, body)
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary:
                try:
                    with open(summary, "a", encoding="utf-8") as stream:
                        stream.write(body + "\n")
                except OSError as error:
                    result.lines.append(f"cannot append to $GITHUB_STEP_SUMMARY ({summary}): {error}")
                    result.file_errors += 1
        if self.options.html_path is not None:
            from .render.html.page import HTML_REPORT, HtmlReportError  # only when a page is asked for

            try:
                page = render(result.report, "html")
            except HtmlReportError as error:  # no Jinja2: one line, like a file that can't be written
                result.lines.append(not_written(HTML_REPORT, self.options.html_path, str(error)))
                result.file_errors += 1
            else:
                self._write(result, HTML_REPORT, self.options.html_path, page)
        return result

    @staticmethod
    def _write(result: GateResult, label: str, path: Path, text: str, detail: str = "") -> None:
        """Write one output file; a failure is one line and a failed session, not a traceback."""
        try:
            write_atomically(path, text)
        except OSError as error:
            result.lines.append(not_written(label, path, error.strerror or str(error)))
            result.file_errors += 1
            return
        result.lines.append(f"wrote {label} {path}{detail}")
