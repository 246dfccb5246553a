"""The CI side of a session: run files, the baseline comparison and its gate.

Runs on the process that sees every test report (the xdist controller, or
the only process of a serial run), once, when the session finishes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .compare import Comparison, Regression, compare_runs
from .config import Settings
from .diff_text import render_comparison
from .markdown import render_markdown
from .runfile import RunEntry, RunFile, RunFileError, build_run_file, load_run_file, write_atomically


class GateError(ValueError):
    """A baseline problem found before any test runs."""


@dataclass(frozen=True)
class GateOptions:
    json_path: Path | None = None
    save_baseline: Path | None = None
    markdown_path: Path | None = None
    baseline_path: Path | None = None
    max_increase: float | None = None  # from the command line; beats the table
    require_baseline: bool = False  # --conv-require-baseline: a baseline path must be given and exist
    require_existing: bool = False  # require_baseline in the table: a given path must exist


@dataclass
class GateResult:
    lines: list[str] = field(default_factory=list)
    failed: bool = False


class RegressionGate:
    def __init__(self, options: GateOptions, settings: Settings) -> None:
        self.options = options
        self.settings = settings
        self.baseline: RunFile | None = None
        self.missing_baseline = False

    def load_baseline(self) -> None:
        """Read the baseline at start: a bad one stops the session before tests run."""
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
        try:
            self.baseline = load_run_file(path)
        except RunFileError as error:
            raise GateError(str(error)) from None

    def finish(self, entries: Sequence[RunEntry], device: str, incomplete: str | None = None) -> GateResult:
        """Write the files, compare, judge. ``incomplete`` says why the run did not
        cover the whole suite; such a run never replaces the baseline."""
        result = GateResult()
        run = build_run_file(entries, device)
        text = run.to_json()
        if self.options.json_path is not None:
            self._write(result, "run file", self.options.json_path, text, f" ({len(entries)} measurements)")
        if self.options.save_baseline is not None:
            if incomplete:
                result.lines.append(
                    f"baseline not saved to {self.options.save_baseline}: {incomplete}; the old file is left as it was"
                )
            else:
                self._write(result, "baseline", self.options.save_baseline, text, f" ({len(entries)} measurements)")
        comparison: Comparison | None = None
        regressions: list[Regression] = []
        if self.baseline is not None:
            comparison = compare_runs(self.baseline, run)
            regressions = comparison.regressions(
                self.settings.max_increase, self.settings.patterns, self.options.max_increase
            )
            result.lines += render_comparison(comparison, regressions, str(self.options.baseline_path))
            result.failed = bool(regressions)
        elif self.missing_baseline:
            result.lines.append(f"no baseline at {self.options.baseline_path}: nothing compared "
                                "(save one with --conv-save-baseline; --conv-require-baseline makes this fail)")
        if self.options.markdown_path is not None:
            over = sum(entry.measurement.over_budget for entry in entries)
            body = render_markdown(comparison, regressions, over, len(entries))
            self._write(result, "markdown", self.options.markdown_path, body)
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary:
                try:
                    with open(summary, "a", encoding="utf-8") as stream:
                        stream.write(body + "\n")
                except OSError as error:
                    result.lines.append(f"cannot append to $GITHUB_STEP_SUMMARY ({summary}): {error}")
                    result.failed = True
        return result

    @staticmethod
    def _write(result: GateResult, label: str, path: Path, text: str, detail: str = "") -> None:
        """Write one output file; a failure is one line and a failed session, not a traceback."""
        try:
            write_atomically(path, text)
        except OSError as error:
            result.lines.append(f"cannot write {label} {path}: {error.strerror or error}")
            result.failed = True
            return
        result.lines.append(f"wrote {label} {path}{detail}")
