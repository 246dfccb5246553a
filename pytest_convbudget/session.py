"""A pytest session's work: the measurements its tests make, their budgets, and the gate at its end.

:mod:`.plugin` holds the hooks and options; each hook hands its event to the
one :class:`ConvBudgetSession` of the run, kept in ``config.stash``. Nothing
here imports torch: the engine loads when a test first calls ``conv_cost``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from .budgets.marker import MARKER, BudgetMark
from .budgets.pyproject import Settings
from .words.errors import MarkerError
from .words.vocabulary import RUN_FILE_OPTION

if TYPE_CHECKING:
    from .budgets.measurement import Measurement
    from .ci.coverage import Coverage
    from .ci.ending import Ending
    from .gate import GateResult, RegressionGate

MARKS = pytest.StashKey[tuple[BudgetMark, ...]]()
MEASUREMENTS = pytest.StashKey[list]()  # of Measurement; imported when a test measures
USER_PROPERTY = "convbudget"  # the user_properties key measurements travel under
WORKER_DESELECTED = "convbudget_deselected"  # workeroutput key: the ids a worker deselected
WORKER_MEASURING = "convbudget_measuring"  # workeroutput key: the ids of the tests that measure
CI_OPTIONS = (
    RUN_FILE_OPTION, "conv_save_baseline", "conv_merge_baseline", "conv_baseline", "conv_max_increase",
    "conv_require_baseline",
)  # with the options of the table of outputs, the ones that wake the gate


class ConvBudgetSession:
    """The session's state: settings, measurements seen, what was collected and deselected."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.device_override: str | None = config.getoption("conv_device")
        self.enforcement: str = config.getoption("conv_budget") or "fail"
        self.measurements: list[Measurement] = []
        self.order: dict[str, int] = {}
        self.outcomes: dict[str, str] = {}
        self.gate = make_gate(config, settings, self.enforcement)
        self.gate_lines: list[str] = []
        self.deselected: list[str] = []
        self.measuring: dict[str, None] = {}  # tests that use conv_cost or a budget marker, in the suite's order
        # measurements made in this process, by the text their test's report carries: read back
        # without parsing it (a worker's reach the controller as text only)
        self.made_here: dict[str, Measurement] = {}
        self.last_failed_only = False
        self.collection_errors: list[str] = []  # node ids of collectors that failed (files, mostly)
        self.crashed: list[str] = []  # tests whose xdist worker died under them
        self.interruption: tuple[str, str] | None = None  # (exception class, message) that interrupted the session
        self.signal: str | None = None  # the signal the plugin turned into an interruption (SIGTERM)

    # -- per test -------------------------------------------------------

    def read_marks(self, item: pytest.Item) -> None:
        """Parse the test's budget markers once, before it runs; a bad one fails the test in one line."""
        marks, problem = [], None
        for mark in item.iter_markers(MARKER):
            try:
                marks.append(BudgetMark.from_mark(mark.args, dict(mark.kwargs), item.nodeid))
            except MarkerError as error:
                problem = str(error)
                break
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        item.stash[MARKS] = tuple(marks)

    def problems(self, item: pytest.Item) -> list[str]:
        """What the test's measurements broke, as the failure (or warning) says it."""
        if self.enforcement == "off":
            return []
        marks = item.stash.get(MARKS, ())
        measurements = item.stash.get(MEASUREMENTS, [])
        if not marks and not measurements:
            return []
        # The phrasebook loads when a test measures, not with the plugin.
        from .render import phrases

        if marks and not measurements:
            return [phrases.measured_nothing(item.nodeid)]
        found = [phrases.failure_message(m, self.settings.fold) for m in measurements if m.over_budget]
        measured = {m.name for m in measurements}
        for mark in marks:
            if mark.name is not None and mark.name not in measured:
                found.append(phrases.names_no_measurement(item.nodeid, mark.source, measured))
        return found

    def outweighed(self, item: pytest.Item) -> list[str]:
        """A line for each budgeted measurement of the test whose uncounted work outweighs its
        counted work: a warning on the test, whatever the enforcement."""
        measurements = [m for m in item.stash.get(MEASUREMENTS, []) if m.outweighed]
        if not measurements:
            return []
        from .render import phrases

        return [f"{item.nodeid} [{m.name}]: {phrases.OUTWEIGHED_TITLE.lower()}: {phrases.outweighed_text(m)}"
                for m in measurements]

    # -- collecting results (serial and xdist alike) -------------------

    def note_deselected(self, ids: list[str]) -> None:
        known = set(self.deselected)
        for test_id in ids:
            if test_id not in known:
                known.add(test_id)
                self.deselected.append(test_id)

    def note_measuring(self, ids: list[str]) -> None:
        """Measuring tests in collection order, seen before any deselection (and again, in order, after it)."""
        self.measuring.update(dict.fromkeys(ids))

    def note_collection_error(self, nodeid: str) -> None:
        self.collection_errors.append(nodeid or ".")

    def note_crashed(self, test_id: str) -> None:
        """An xdist worker crashed while running ``test_id``: its measurements never arrive."""
        if test_id not in self.crashed:
            self.crashed.append(test_id)

    def note_interruption(self, error: BaseException) -> None:
        self.interruption = (type(error).__name__, str(error))

    def note_collected(self, ids: list[str]) -> None:
        if not self.order:
            self.order = {test_id: index for index, test_id in enumerate(ids)}

    def note_report(self, report: pytest.TestReport) -> None:
        """A test's outcome and its measurements, from whichever process ran it."""
        if report.when != "call":
            return
        self.outcomes[report.nodeid] = report.outcome
        for key, value in report.user_properties:
            if key == USER_PROPERTY:
                made = self.made_here.pop(value, None)
                if made is None:
                    from .budgets.measurement import Measurement

                    made = Measurement.from_dict(json.loads(value))
                self.measurements.append(made)

    def ordered_measurements(self) -> list[Measurement]:
        """Collection order, so serial and ``-n 2`` runs report identically."""
        unknown = len(self.order)
        return sorted(
            self.measurements,
            key=lambda m: (self.order.get(m.test_id, unknown), m.test_id, m.index),
        )

    def coverage(self, gone: list[str] | None = None) -> Coverage:
        """The measuring tests, in suite order, split by whether they ran: what a shard did not run;
        the test files collected whole; ``gone``: the baseline's test files missing from the checkout."""
        from .ci.coverage import coverage_of
        from .ci.selection import narrowing_args, whole_files

        args = narrowing_args(self.config)
        whole = not args and not self.last_failed_only
        files = whole_files(self.config, [*self.order, *self.deselected, *self.measuring], self.collection_errors)
        return coverage_of(list(self.measuring), self.outcomes, whole, files, gone or ())

    def ending(self, session: pytest.Session) -> Ending:
        """How the session ended, and how far it got through the measuring tests it set out to run."""
        from .ci.ending import Ending

        deselected = set(self.deselected)
        selected = [test_id for test_id in self.measuring if test_id not in deselected]
        ran = sum(test_id in self.outcomes for test_id in selected)
        state, detail = ending_state(session, self)
        lost = tuple(test_id for test_id in self.crashed if test_id not in self.outcomes)
        return Ending(state, len(selected), ran, lost, detail)

    def unmatched_patterns(self) -> list[str]:
        """Patterns that match no test of the suite: collected ones, deselected ones included.

        A run that named only part of the suite on its command line cannot tell, so it says nothing.
        """
        from .ci.selection import narrowing_args

        if narrowing_args(self.config):
            return []
        suite = [*self.order, *self.deselected]
        return [
            budget.pattern
            for budget in self.settings.patterns
            if not any(budget.matches(test_id) for test_id in suite)
        ]

    # -- at the end -------------------------------------------------------

    def finish(self, session: pytest.Session) -> None:
        """Run the gate, and put what it found on pytest's last line and in the exit status."""
        if self.enforcement != "warn" and self.gate is None:
            return
        from .render import phrases

        parts: dict[tuple[str, str], int] = {}
        if self.enforcement == "warn":
            parts[phrases.OVERRUN_WORDS] = sum(m.over_budget for m in self.measurements)
        if self.gate is not None:
            result = self._finish_gate(session)
            parts[phrases.REGRESSION_WORDS] = len(result.report.regressions) if result.report else 0
            parts[phrases.MISMATCH_WORDS] = len(result.report.mismatched) if result.report else 0
            parts[phrases.NOT_WRITTEN_WORDS] = result.file_errors
            parts[phrases.NOT_SAVED_WORDS] = result.not_saved
            parts[phrases.INCOMPLETE_WORDS] = len(result.report.incomplete) if result.report else 0
            refused = result.not_saved > 0 and bool(self.config.getoption("conv_require_save"))
            if (result.failed or refused) and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        add_to_final_line(self.config, parts)

    def _finish_gate(self, session: pytest.Session) -> GateResult:
        from .ci.runfile import RunEntry
        from .ci.selection import narrowing
        from .render import phrases

        assert self.gate is not None
        entries = [
            RunEntry(measurement, self.outcomes.get(measurement.test_id, "passed"))
            for measurement in self.ordered_measurements()
        ]
        narrowed = narrowing(self.config, self.deselected, self.last_failed_only)
        result = self.gate.finish(
            entries, self.device_override or self.settings.device, self.ending(session),
            None if narrowed is None else phrases.narrowed_text(narrowed),
            self.coverage(self.gate.gone_files(self.config.rootpath)),
        )
        self.gate_lines = result.lines
        return result

    def summary_lines(self) -> list[str]:
        """The "conv budget" section of pytest's summary: the report, the gate, unmatched patterns
        (nothing at all when there is none of them)."""
        style = self.config.getoption("conv_report")
        unmatched = self.unmatched_patterns()
        outweighed = [m for m in self.ordered_measurements() if m.outweighed]  # said with or without a report
        if style is None and not unmatched and not self.gate_lines and not outweighed:
            return []
        from .render import phrases

        lines = []
        if outweighed:
            lines.append(f"{phrases.OUTWEIGHED_TITLE} ({len(outweighed)}):")
            lines += [f"  {m.test_id} [{m.name}]: {phrases.outweighed_text(m)}" for m in outweighed]
        if style is not None:
            from .render.terminal import summary_lines

            lines += summary_lines(self.ordered_measurements(), self.enforcement, style == "layers",
                                   self.settings.depth, self.settings.fold, show_memory=style == "memory")
        lines += self.gate_lines
        lines += [phrases.unmatched_pattern(self.settings.label, pattern) for pattern in unmatched]
        return lines


class FinalLineEntry:
    """A stand-in report in ``terminalreporter.stats``: pytest counts them into the final line."""

    count_towards_summary = True
    when = ""


def measures(item: pytest.Item) -> bool:
    """A test that measures: it asks for ``conv_cost`` (itself or through a fixture), or carries a budget."""
    return "conv_cost" in getattr(item, "fixturenames", ()) or item.get_closest_marker(MARKER) is not None


def add_to_final_line(config: pytest.Config, parts: dict[tuple[str, str], int]) -> None:
    """Put conv budget findings on pytest's last line (``8 passed, 1 conv budget regression in 1.2s``).

    The terminal reporter builds that line from its ``stats``: each key is
    printed as ``<number of entries> <key>``, after pytest's own, and a key it
    does not know turns a green line yellow.
    """
    reporter: Any = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    for (singular, plural), count in parts.items():
        if count > 0:
            key = singular if count == 1 else plural
            reporter.stats.setdefault(key, []).extend(FinalLineEntry() for _ in range(count))
            # The reporter keeps the kinds it counts from its last test's progress line; a run
            # interrupted mid-test never reaches its last test, so they would leave ours out.
            if getattr(reporter, "_known_types", None) is not None:
                reporter._known_types = None


XDIST_STOP = "stopping after"  # how xdist's controller words a -x/--maxfail stop (it raises an interruption)


def ending_state(session: pytest.Session, state: ConvBudgetSession) -> tuple[str, str]:
    """(state, detail): why this run did not measure the whole selected suite, or that it did."""
    from .words.vocabulary import (
        COLLECT_ONLY, COLLECTION_ERRORS, COMPLETE, INTERNAL_ERROR, INTERRUPTED, STOPPED, WORKER_CRASHED,
    )

    if session.config.option.collectonly:
        return COLLECT_ONLY, ""
    if state.collection_errors:
        return COLLECTION_ERRORS, ", ".join(state.collection_errors)
    interruption = state.interruption
    if interruption is not None and interruption[1].startswith(XDIST_STOP):
        return STOPPED, interruption[1]
    if session.exitstatus == pytest.ExitCode.INTERRUPTED or interruption is not None:
        return INTERRUPTED, state.signal or ""
    if state.crashed:
        return WORKER_CRASHED, ""
    if session.shouldfail or session.shouldstop:
        return STOPPED, str(session.shouldfail or session.shouldstop)
    if session.exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        return INTERNAL_ERROR, ""
    return COMPLETE, ""


def make_gate(config: pytest.Config, settings: Settings, enforcement: str = "fail") -> RegressionGate | None:
    """The CI gate, imported and built only when a CI option is given (start-up stays light)."""
    from .render.outputs import file_outputs

    if all(config.getoption(option) is None for option in (*CI_OPTIONS, *(o.dest for o in file_outputs()))):
        return None
    from .gate import gate_from_config

    return gate_from_config(config, settings, enforcement)
