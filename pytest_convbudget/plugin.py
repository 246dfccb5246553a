"""The pytest plugin: ``conv_cost`` fixture, ``budget`` marker, ``--conv-*`` options.

Loaded by every pytest run in an environment where the package is installed,
so this module imports nothing heavy: torch is imported only when a test
calls ``conv_cost``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from .budgets.limits import ENFORCEMENT
from .budgets.pyproject import Settings, find_pyproject, load_settings
from .budgets.marker import MARKER, MARKER_HELP, BudgetMark, MarkerError
from .words.vocabulary import DEVICES, ConfigError, is_known_device

if TYPE_CHECKING:
    from .gate import GateResult
    from .budgets.measurement import Measurement

SESSION_PLUGIN = "convbudget-session"
REPORT_STYLES = ("summary", "layers")
PROFILE_OPTIONS = ("kwargs", "device", "batch_size", "count")  # passed on to profile()
_MARKS = pytest.StashKey[tuple[BudgetMark, ...]]()
_MEASUREMENTS = pytest.StashKey[list]()  # of Measurement; imported when a test measures
USER_PROPERTY = "convbudget"  # the user_properties key measurements travel under
WORKER_DESELECTED = "convbudget_deselected"  # workeroutput key: the ids a worker deselected


class ConvBudgetWarning(UserWarning):
    """A budget overrun under ``--conv-budget=warn``."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("convbudget", "conv budgets (pytest-convbudget)")
    group.addoption(
        "--conv-report", nargs="?", const="summary", default=None, metavar="layers",
        help="print a 'conv budget' summary of every conv_cost measurement; "
        "--conv-report=layers adds each measurement's per-layer table",
    )
    group.addoption(
        "--conv-device", default=None, metavar="DEVICE",
        help="profile every measurement on DEVICE (auto, meta, cpu, cuda, cuda:N), "
        "overriding [tool.convbudget] device and conv_cost(device=...)",
    )
    group.addoption(
        "--conv-budget", default=None, choices=ENFORCEMENT,
        help="fail (default): a measurement over budget fails its test; warn: it warns; "
        "off: budgets are not checked (the report still shows them)",
    )
    group.addoption("--conv-json", default=None, metavar="PATH", help="write every measurement of the run as JSON to PATH")
    group.addoption(
        "--conv-save-baseline", default=None, metavar="PATH",
        help="write the run as a baseline to PATH (atomically; same format as --conv-json)",
    )
    group.addoption(
        "--conv-merge-baseline", default=None, metavar="PATH",
        help="update only the measured entries of the existing baseline at PATH (for runs of part of the suite: "
        "-k, -m, node ids); the tests that ran replace their own entries, the rest are kept",
    )
    group.addoption(
        "--conv-baseline", default=None, metavar="PATH",
        help="compare every measurement with the baseline at PATH (before, after, change)",
    )
    group.addoption(
        "--conv-max-increase", default=None, metavar="PCT",
        help="fail the session when a measurement grew by more than PCT percent over the baseline "
        "(overrides max_increase in [tool.convbudget])",
    )
    group.addoption(
        "--conv-require-baseline", action="store_true", default=None,
        help="fail at start when the baseline is missing instead of comparing nothing",
    )
    group.addoption(
        "--conv-markdown", default=None, metavar="PATH",
        help="write the pull-request comment (markdown) to PATH; also appended to $GITHUB_STEP_SUMMARY when set",
    )
    group.addoption(
        "--conv-html", default=None, metavar="PATH",
        help="write the run as one self-contained HTML page to PATH (charts of where the cost goes; "
        "with --conv-baseline, what changed)",
    )


def pytest_load_initial_conftests(args: list[str]) -> None:
    """Read a bare ``--conv-report`` as ``--conv-report=summary``.

    The option takes an optional value, so argparse would otherwise swallow the
    path in ``pytest --conv-report tests/``. A value must be written with ``=``.
    """
    args[:] = ["--conv-report=summary" if arg == "--conv-report" else arg for arg in args]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    style = config.getoption("conv_report")
    if style is not None and style not in REPORT_STYLES:
        raise pytest.UsageError(f"--conv-report takes 'layers' or no value (--conv-report=layers), got {style!r}")
    try:
        settings = load_settings(find_pyproject(config.inipath, config.rootpath))
    except ConfigError as error:
        raise pytest.UsageError(f"pytest-convbudget: {error}") from None
    device = config.getoption("conv_device")
    if device is not None and not is_known_device(device):
        raise pytest.UsageError(f"--conv-device {device!r}: expected one of {', '.join(DEVICES)} or cuda:N")
    session = ConvBudgetSession(config, settings)
    if session.gate is not None and not hasattr(config, "workerinput"):  # the controller's business
        from .gate import GateError

        try:
            session.gate.load_baseline()
        except GateError as error:
            raise pytest.UsageError(f"pytest-convbudget: {error}") from None
    config.pluginmanager.register(session, SESSION_PLUGIN)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(session), f"{SESSION_PLUGIN}-xdist")


@pytest.fixture
def conv_cost(request: pytest.FixtureRequest) -> "Meter":
    """Measure a model: ``conv_cost(model, *inputs, name=None, **profile_options)`` -> ConvCost.

    Each measurement is recorded on the test, checked against its budget
    when the test body ends, and shown by ``--conv-report``.
    """
    session: ConvBudgetSession = request.config.pluginmanager.get_plugin(SESSION_PLUGIN)
    return Meter(session, request.node)


class Meter:
    """The callable the ``conv_cost`` fixture gives a test."""

    def __init__(self, session: ConvBudgetSession, item: pytest.Item) -> None:
        self._session = session
        self._item = item

    def __call__(self, model: Any, *inputs: Any, name: str | None = None, **options: Any) -> Any:
        __tracebackhide__ = True
        from .budgets.limits import resolve_limits
        from .words.vocabulary import ProfileError
        from .budgets.measurement import Measurement
        from .engine.profiler import profile

        settings = self._session.settings
        unknown = sorted(set(options) - set(PROFILE_OPTIONS))
        if unknown:
            pytest.fail(
                f"{self._item.nodeid}: conv_cost: unknown option(s) {', '.join(unknown)} "
                f"(expected name, {', '.join(PROFILE_OPTIONS)})",
                pytrace=False,
            )
        requested = options.pop("device", None)
        device = self._session.device_override or requested or settings.device
        options.setdefault("count", settings.count_for(self._item.nodeid))
        problem = None
        try:
            cost = profile(model, *inputs, device=device, **options)
        except ProfileError as error:
            problem = str(error).replace("profile()", "conv_cost()")
        if problem is not None:  # failed outside the except, so pytest shows no exception chain
            pytest.fail(f"{self._item.nodeid}: conv_cost: {problem}", pytrace=False)
        measurements = self._item.stash.setdefault(_MEASUREMENTS, [])
        name = self._unique_name(name, cost.model, measurements)
        marks = self._item.stash.get(_MARKS, ())
        limits = resolve_limits(self._item.nodeid, name, marks, settings)
        measurement = Measurement(
            test_id=self._item.nodeid, name=name, index=len(measurements), cost=cost,
            per=settings.per, limits=tuple(limits.values()),
        )
        measurements.append(measurement)
        self._item.user_properties.append((USER_PROPERTY, json.dumps(measurement.to_dict(), sort_keys=True)))
        return cost

    def _unique_name(self, name: str | None, model_name: str, measurements: list[Measurement]) -> str:
        __tracebackhide__ = True
        taken = {m.name for m in measurements}
        if name is not None:
            if not isinstance(name, str) or not name:
                pytest.fail(f"{self._item.nodeid}: conv_cost: name must be a non-empty string, got {name!r}", pytrace=False)
            if name in taken:
                pytest.fail(
                    f"{self._item.nodeid}: conv_cost: name {name!r} is measured twice; give each measurement its own name=",
                    pytrace=False,
                )
            return name
        candidate, number = model_name, 1
        while candidate in taken:
            number += 1
            candidate = f"{model_name}#{number}"
        return candidate


class ConvBudgetSession:
    """The session's state: settings, measurements seen, and the report."""

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
        self.last_failed_only = False

    # -- per test -------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        marks, problem = [], None
        for mark in item.iter_markers(MARKER):
            try:
                marks.append(BudgetMark.from_mark(mark.args, dict(mark.kwargs), item.nodeid))
            except MarkerError as error:
                problem = str(error)
                break
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        item.stash[_MARKS] = tuple(marks)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        result = yield
        problems = self._problems(item)
        if problems and self.enforcement == "fail":
            pytest.fail("\n".join(problems), pytrace=False)
        if problems and self.enforcement == "warn":
            path, line, _ = item.location  # point the warning at the test, not at the plugin
            warnings.warn_explicit(
                ConvBudgetWarning("\n".join(problems)), ConvBudgetWarning,
                filename=str(self.config.rootpath / path), lineno=(line or 0) + 1,
            )
        return result

    def _problems(self, item: pytest.Item) -> list[str]:
        if self.enforcement == "off":
            return []
        marks = item.stash.get(_MARKS, ())
        measurements = item.stash.get(_MEASUREMENTS, [])
        if marks and not measurements:
            return [f"{item.nodeid} has @pytest.mark.budget but measured no model: call conv_cost(model, *inputs) in the test"]
        problems = [m.failure_message() for m in measurements if m.over_budget]
        measured = {m.name for m in measurements}
        for mark in marks:
            if mark.name is not None and mark.name not in measured:
                problems.append(
                    f"{item.nodeid}: {mark.source} names no measurement of this test "
                    f"(measured: {', '.join(sorted(measured))})"
                )
        return problems

    # -- collecting results (serial and xdist alike) -------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from .ci.selection import last_failed_only

        self.last_failed_only = last_failed_only(self.config)  # read before this run's results change it

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.note_collected([item.nodeid for item in session.items])

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.note_deselected([item.nodeid for item in items])

    def note_deselected(self, ids: list[str]) -> None:
        known = set(self.deselected)
        for test_id in ids:
            if test_id not in known:
                known.add(test_id)
                self.deselected.append(test_id)

    def note_collected(self, ids: list[str]) -> None:
        if not self.order:
            self.order = {test_id: index for index, test_id in enumerate(ids)}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        self.outcomes[report.nodeid] = report.outcome
        for key, value in report.user_properties:
            if key == USER_PROPERTY:
                from .budgets.measurement import Measurement

                self.measurements.append(Measurement.from_dict(json.loads(value)))

    def ordered_measurements(self) -> list[Measurement]:
        """Collection order, so serial and ``-n 2`` runs report identically."""
        unknown = len(self.order)
        return sorted(
            self.measurements,
            key=lambda m: (self.order.get(m.test_id, unknown), m.test_id, m.index),
        )

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

    # -- files, baseline and the gate -------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            self.config.workeroutput[WORKER_DESELECTED] = self.deselected  # type: ignore[attr-defined]
            return
        parts: dict[tuple[str, str], int] = {}
        if self.enforcement == "warn":
            parts[final_line_word("overrun", " (warn)")] = sum(m.over_budget for m in self.measurements)
        if self.gate is not None:
            result = self._finish_gate(session)
            parts[final_line_word("regression")] = len(result.report.regressions) if result.report else 0
            parts[final_line_word("baseline mismatch", plural="baseline mismatches")] = (
                len(result.report.mismatched) if result.report else 0
            )
            parts[final_line_word("file not written", plural="files not written")] = result.file_errors
            if result.failed and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        add_to_final_line(self.config, parts)

    def _finish_gate(self, session: pytest.Session) -> GateResult:
        from .ci.runfile import RunEntry
        from .ci.selection import narrowed_reason

        entries = [
            RunEntry(measurement, self.outcomes.get(measurement.test_id, "passed"))
            for measurement in self.ordered_measurements()
        ]
        narrowed = narrowed_reason(self.config, self.deselected, self.last_failed_only)
        result = self.gate.finish(
            entries, self.device_override or self.settings.device, incomplete_reason(session), narrowed
        )
        self.gate_lines = result.lines
        return result

    # -- reporting ---------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        style = self.config.getoption("conv_report")
        unmatched = self.unmatched_patterns()
        if style is None and not unmatched and not self.gate_lines:
            return
        terminalreporter.write_sep("=", "conv budget")
        if style is not None:
            from .render.summary import render_report

            for line in render_report(self.ordered_measurements(), self.enforcement, style == "layers"):
                terminalreporter.write_line(line)
        for line in self.gate_lines:
            terminalreporter.write_line(line)
        for pattern in unmatched:
            terminalreporter.write_line(
                f"warning: {self.settings.label} [tool.convbudget.budgets] {pattern!r} matches no collected test"
            )


class FinalLineEntry:
    """A stand-in report in ``terminalreporter.stats``: pytest counts them into the final line."""

    count_towards_summary = True
    when = ""


def final_line_word(noun: str, suffix: str = "", plural: str | None = None) -> tuple[str, str]:
    """The singular and plural stats keys of one finding: ``conv budget regression(s)``."""
    return f"conv budget {noun}{suffix}", f"conv budget {plural or noun + 's'}{suffix}"


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


def incomplete_reason(session: pytest.Session) -> str | None:
    """Why this run did not measure the whole selected suite, if it did not."""
    if session.config.option.collectonly:
        return "--collect-only ran no test"
    if session.exitstatus == pytest.ExitCode.INTERRUPTED:
        return "the run was interrupted"
    if session.shouldfail or session.shouldstop:
        return f"the run stopped early ({session.shouldfail or session.shouldstop})"
    if session.exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        return "the run ended in an internal error"
    return None


CI_OPTIONS = (
    "conv_json", "conv_save_baseline", "conv_merge_baseline", "conv_markdown", "conv_html", "conv_baseline",
    "conv_max_increase", "conv_require_baseline",
)


def make_gate(config: pytest.Config, settings: Settings, enforcement: str = "fail") -> Any:
    """The CI gate, imported and built only when a CI option is given (start-up stays light)."""
    if all(config.getoption(option) is None for option in CI_OPTIONS):
        return None
    from .gate import GateOptions, RegressionGate
    from .words.quantity import parse_percent

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
    require = config.getoption("conv_require_baseline")
    options = GateOptions(
        json_path=path("conv_json"),
        save_baseline=path("conv_save_baseline"),
        merge_baseline=path("conv_merge_baseline"),
        markdown_path=path("conv_markdown"),
        html_path=path("conv_html"),
        baseline_path=path("conv_baseline"),
        max_increase=max_increase,
        require_baseline=bool(require),
        require_existing=settings.require_baseline,
        enforcement=enforcement,
    )
    return RegressionGate(options, settings)


class XdistHooks:
    """Hooks that exist only under pytest-xdist: the controller learns the collection order."""

    def __init__(self, session: ConvBudgetSession) -> None:
        self._session = session

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self._session.note_collected(list(ids))

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Workers collect and deselect; the controller learns what they left out when they finish."""
        self._session.note_deselected(list(getattr(node, "workeroutput", {}).get(WORKER_DESELECTED, [])))
