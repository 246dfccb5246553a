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

    def finish(self, entries: Sequence[RunEntry], device: str) -> GateResult:
        result = GateResult()
        run = build_run_file(entries, device)
        text = run.to_json()
        for label, path in (("run file", self.options.json_path), ("baseline", self.options.save_baseline)):
            if path is not None:
                write_atomically(path, text)
                result.lines.append(f"wrote {label} {path} ({len(entries)} measurements)")
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
            write_atomically(self.options.markdown_path, body)
            result.lines.append(f"wrote markdown {self.options.markdown_path}")
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary:
                with open(summary, "a", encoding="utf-8") as stream:
                    stream.write(body + "\n")
        return result
