"""The CI gate at the end of a session: write the run file and the baseline, judge the
run against its baseline, and write every output format the options ask for.

Runs on the process that sees every test report (the xdist controller, or
the only process of a serial run), once, when the session finishes. It sits
above the renderers, which it uses, and below the session, which calls it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import pytest

from .budgets.pyproject import Settings
from .ci.runfile import (
    RunEntry,
    RunFile,
    build_run_file,
    load_run_file,
    merge_runs,
    write_problem,
)
from .ci.coverage import Coverage, file_of
from .ci.ending import Ending
from .ci.filelock import folder_locked
from .ci.verdict import GatePolicy, RunReport, build_report
from .render import phrases
from .render.outputs import NotWritten, Output, draw, file_outputs, render, write
from .words.errors import GateError, RunFileError
from .words.quantity import parse_byte_size, parse_percent
from .words.vocabulary import DEFAULT_MAX_FILE_SIZE, RUN_FILE_OPTION


@dataclass(frozen=True)
class GateOptions:
    run_file: Path | None = None  # --conv-run-file (alias --conv-json): every measurement of the run
    save_baseline: Path | None = None
    merge_baseline: Path | None = None  # --conv-merge-baseline: update the measured entries of this file
    outputs: tuple[tuple[Output, Path], ...] = ()  # the rendered formats asked for, in table order
    baseline_path: Path | None = None
    max_increase: float | None = None  # from the command line; beats the table
    require_baseline: bool = False  # --conv-require-baseline: a baseline path must be given and exist
    require_existing: bool = False  # require_baseline in the table: a given path must exist
    enforcement: str = "fail"  # --conv-budget
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # --conv-max-file-size, else max_file_size in the table


@dataclass
class GateResult:
    lines: list[str] = field(default_factory=list)
    report: RunReport | None = None
    file_errors: int = 0  # outputs that could not be written
    not_saved: int = 0  # baselines refused (--conv-save-baseline, --conv-merge-baseline of a partial run)

    @property
    def failed(self) -> bool:
        report = self.report
        return self.file_errors > 0 or (report is not None and bool(report.regressions or report.mismatched))


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
                raise GateError(phrases.SAVE_AND_MERGE)
            if not merge.exists():
                raise GateError(phrases.merge_refusal(merge))
            self.merge_into = self._load(merge)
        path = self.options.baseline_path
        if path is None:
            if self.options.require_baseline:
                raise GateError(phrases.REQUIRE_WITHOUT_PATH)
            return
        if not path.exists():
            if self.options.require_baseline or self.options.require_existing:
                raise GateError(phrases.required_baseline_missing(path))
            self.missing_baseline = True
            return
        self.baseline = self._load(path)

    def check_outputs(self) -> None:
        """Every file the session will write, tried now: an unwritable path is one line before any test runs."""
        options = self.options
        named = [(phrases.RUN_FILE, options.run_file), (phrases.BASELINE, options.save_baseline),
                 (phrases.BASELINE, options.merge_baseline), *((output.label, path) for output, path in options.outputs)]
        for label, path in named:
            problem = None if path is None else write_problem(path)
            if problem is not None:
                raise GateError(phrases.not_written(label, path, problem))

    def gone_files(self, root: Path) -> list[str]:
        """The baseline's test files that are not in the checkout at ``root``: their tests were removed."""
        if self.baseline is None:
            return []
        files = {file_of(entry.measurement.test_id) for entry in self.baseline.entries}
        return sorted(file for file in files if not (root / file).exists())

    def _load(self, path: Path) -> RunFile:
        try:
            return load_run_file(path, max_bytes=self.options.max_file_size,
                                 raise_with="--conv-max-file-size or max_file_size in [tool.convbudget]")
        except RunFileError as error:
            raise GateError(str(error)) from None

    def finish(
        self, entries: Sequence[RunEntry], device: str, ending: Ending | None = None, narrowed: str | None = None,
        coverage: Coverage | None = None,
    ) -> GateResult:
        """Write the files, judge, render. ``ending`` says how the session ended (an incomplete
        one is said first by every output) and ``narrowed`` why it ran only part of the suite;
        either keeps a baseline from being replaced. A merge updates only what was measured, so
        only an incomplete ending stops it."""
        result = GateResult()
        run = build_run_file(entries, device, coverage, ending or Ending())
        incomplete = phrases.incomplete_text(run.incomplete) if run.incomplete else None
        if run.incomplete:  # said first, whatever follows: an incomplete run never reads as a clean one
            result.lines.append(phrases.incomplete_notice(run.incomplete))
        self._save_run(result, run, incomplete, narrowed)
        policy = GatePolicy.from_settings(self.settings, self.options.max_increase, self.options.enforcement)
        label = None if self.options.baseline_path is None else str(self.options.baseline_path)
        report = build_report(run, self.baseline, policy, label)
        report = result.report = replace(report, fold=self.settings.fold, depth=self.settings.depth)
        if self.baseline is not None:
            result.lines += render(report, "text").splitlines()
        elif self.missing_baseline:
            result.lines.append(phrases.no_baseline(self.options.baseline_path))
        for output, path in self.options.outputs:
            try:
                text = draw(output, report, path, output.label)
            except NotWritten as failure:
                result.lines.append(str(failure))
                result.file_errors += 1
                continue
            self._write(result, output.label, path, text)
            if output.step_summary:
                self._append_step_summary(result, text)
        return result

    def _save_run(self, result: GateResult, run: RunFile, incomplete: str | None, narrowed: str | None) -> None:
        """The run file, the baseline, or the baseline merged: what the run measured, as data."""
        text = run.to_json()
        count = phrases.measurements_detail(len(run.entries))
        if self.options.run_file is not None:
            self._write(result, phrases.RUN_FILE, self.options.run_file, text, count)
        save = self.options.save_baseline
        if save is not None:
            if incomplete:
                result.lines.append(phrases.not_saved(save, incomplete))
                result.not_saved += 1
            elif narrowed:
                result.lines.append(phrases.not_saved(save, narrowed, phrases.MERGE_HINT))
                result.not_saved += 1
            else:
                with folder_locked(save):
                    self._write(result, phrases.BASELINE, save, text, count)
        if self.options.merge_baseline is not None and self.merge_into is not None:
            path = self.options.merge_baseline
            if incomplete:
                result.lines.append(phrases.not_saved(path, incomplete))
                result.not_saved += 1
                return
            with folder_locked(path):  # read again under the lock: another run may have merged into it since
                try:
                    current = self._load(path)
                except GateError as error:
                    result.lines.append(phrases.not_saved(path, str(error)))
                    result.not_saved += 1
                    return
                merged, updated = merge_runs(current, run)
                self._write(result, phrases.BASELINE, path, merged.to_json(),
                            phrases.merged_detail(updated, len(merged.entries)))

    @staticmethod
    def _write(result: GateResult, label: str, path: Path, text: str, detail: str = "") -> None:
        """Write one output file; a failure is one line and a failed session, not a traceback."""
        try:
            write(label, path, text)
        except NotWritten as failure:
            result.lines.append(str(failure))
            result.file_errors += 1
            return
        result.lines.append(phrases.written(label, path, detail))

    @staticmethod
    def _append_step_summary(result: GateResult, text: str) -> None:
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if not summary:
            return
        try:
            with open(summary, "a", encoding="utf-8") as stream:
                stream.write(text + "\n")
        except OSError as error:
            result.lines.append(phrases.step_summary_failed(summary, error))
            result.file_errors += 1


def gate_from_config(config: pytest.Config, settings: Settings, enforcement: str = "fail") -> RegressionGate:
    """The gate the session's CI options ask for; a bad --conv-max-increase is a usage error."""
    outputs = file_outputs()

    def path(option: str) -> Path | None:
        value = config.getoption(option)
        return None if value is None else Path(value)

    raw_increase = config.getoption("conv_max_increase")
    max_increase = None
    if raw_increase is not None:
        try:
            max_increase = parse_percent(raw_increase)
        except ValueError as error:
            raise pytest.UsageError(f"--conv-max-increase: {error}") from None
    raw_size = config.getoption("conv_max_file_size")
    max_file_size = settings.max_file_size
    if raw_size is not None:
        try:
            max_file_size = parse_byte_size(raw_size)
        except ValueError as error:
            raise pytest.UsageError(f"--conv-max-file-size: {error}") from None
    require = config.getoption("conv_require_baseline")
    options = GateOptions(
        run_file=path(RUN_FILE_OPTION),
        save_baseline=path("conv_save_baseline"),
        merge_baseline=path("conv_merge_baseline"),
        outputs=tuple((output, Path(config.getoption(output.dest))) for output in outputs
                      if config.getoption(output.dest) is not None),
        baseline_path=path("conv_baseline"),
        max_increase=max_increase,
        require_baseline=bool(require),
        require_existing=settings.require_baseline,
        enforcement=enforcement,
        max_file_size=max_file_size,
    )
    return RegressionGate(options, settings)
