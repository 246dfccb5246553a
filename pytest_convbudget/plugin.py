"""The pytest plugin: the ``--conv-*`` options, the ``conv_cost`` fixture, and the hooks.

Loaded by every pytest run in an environment where the package is installed,
so this module imports nothing heavy: torch is imported only when a test
calls ``conv_cost``. Each hook is a line or two that hands its event to the
run's :class:`~.session.ConvBudgetSession`, where the work is done.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import warnings
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from .budgets.marker import MARKER_HELP
from .budgets.pyproject import find_pyproject, load_settings, parse_depth
from .render.outputs import file_outputs
from .session import WORKER_DESELECTED, WORKER_MEASURING, ConvBudgetSession, measures
from .words.errors import ConfigError
from .words.vocabulary import DEVICES, ENFORCEMENT, RUN_FILE_OPTION, is_known_device

if TYPE_CHECKING:
    from .meter import Meter

SESSION = pytest.StashKey[ConvBudgetSession]()
SESSION_PLUGIN = "convbudget-session"
REPORT_STYLES = ("summary", "layers", "memory")


class ConvBudgetWarning(UserWarning):
    """A budget overrun under ``--conv-budget=warn``."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("convbudget", "conv budgets (pytest-convbudget)")
    group.addoption(
        "--conv-report", nargs="?", const="summary", default=None, metavar="layers|memory",
        help="print a 'conv budget' summary of every conv_cost measurement; "
        "--conv-report=layers adds each measurement's per-layer table, --conv-report=memory "
        "each one's model params, weight bytes and peak activation bytes",
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
    group.addoption(
        "--conv-run-file", "--conv-json", dest=RUN_FILE_OPTION, default=None, metavar="PATH",
        help="write the run file to PATH: every measurement of the run, as JSON (the baseline format)",
    )
    group.addoption(
        "--conv-save-baseline", default=None, metavar="PATH",
        help="write the run as a baseline to PATH (atomically; a run file)",
    )
    group.addoption(
        "--conv-require-save", action="store_true", default=None,
        help="fail the session (exit status 1) when --conv-save-baseline or --conv-merge-baseline is refused "
        "(a partial or stopped run): for baseline jobs, so a baseline never goes stale unnoticed",
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
        "--conv-max-file-size", default=None, metavar="SIZE",
        help="refuse baseline files bigger than SIZE, unread (such as 256MiB; default: max_file_size in "
        "[tool.convbudget], else 64MiB)",
    )
    group.addoption(
        "--conv-require-baseline", action="store_true", default=None,
        help="fail at start when the baseline is missing instead of comparing nothing",
    )
    group.addoption(
        "--conv-depth", type=_depth, default=None, metavar="N",
        help="where reports' blocks stop: N module path parts (--conv-report=layers sums each measurement's layers "
        "per block, the comment's bars and the page's first level show them); overrides depth in [tool.convbudget]; "
        "default: the top level, descending through a block that holds nearly all the cost",
    )
    group.addoption(
        "--conv-no-fold", action="store_true", default=None,
        help="show repeated blocks one row each (layers.0.mlp.fc1 ... layers.11.mlp.fc1) instead of one folded row "
        "(layers.*.mlp.fc1 ×12) in every report; as fold = false in [tool.convbudget]",
    )
    for output in file_outputs():  # one option per entry of the table of outputs
        group.addoption(output.option, dest=output.dest, default=None, metavar="PATH", help=output.help)


def _depth(text: str) -> int:
    try:
        return parse_depth(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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
        raise pytest.UsageError(
            f"--conv-report takes 'layers', 'memory' or no value (--conv-report=layers), got {style!r}"
        )
    try:
        settings = load_settings(find_pyproject(config.inipath, config.rootpath))
    except ConfigError as error:
        raise pytest.UsageError(f"pytest-convbudget: {error}") from None
    depth = config.getoption("conv_depth")
    if depth is not None or config.getoption("conv_no_fold"):  # the command line beats the table
        settings = dataclasses.replace(
            settings, depth=settings.depth if depth is None else depth,
            fold=settings.fold and not config.getoption("conv_no_fold"),
        )
    device = config.getoption("conv_device")
    if device is not None and not is_known_device(device):
        raise pytest.UsageError(f"--conv-device {device!r}: expected one of {', '.join(DEVICES)} or cuda:N")
    session = ConvBudgetSession(config, settings)
    if session.gate is not None and not hasattr(config, "workerinput"):  # the controller's business
        from .words.errors import GateError

        try:
            session.gate.load_baseline()
            session.gate.check_outputs()
        except GateError as error:
            raise pytest.UsageError(f"pytest-convbudget: {error}") from None
    config.stash[SESSION] = session
    config.pluginmanager.register(SessionHooks(session), SESSION_PLUGIN)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(session), f"{SESSION_PLUGIN}-xdist")


@pytest.fixture
def conv_cost(request: pytest.FixtureRequest) -> Meter:
    """Measure a model: ``conv_cost(model, *inputs, name=None, **profile_options)`` -> ConvCost.

    Each measurement is recorded on the test, checked against its budget
    when the test body ends, and shown by ``--conv-report``.
    """
    from .meter import Meter  # with the test that measures, not with every run

    return Meter(request.config.stash[SESSION], request.node)


class SessionHooks:
    """The hooks of one run, registered in ``pytest_configure`` with the run's session:
    each hands its event to the session, where the work is done."""

    def __init__(self, session: ConvBudgetSession) -> None:
        self.session = session
        self.is_worker = hasattr(session.config, "workerinput")

    # -- per test -------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.session.read_marks(item)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        result = yield
        problems = self.session.problems(item)
        outweighed = self.session.outweighed(item)
        enforcement = self.session.enforcement
        if problems and enforcement == "fail":
            pytest.fail("\n".join([*problems, *outweighed]), pytrace=False)
        warned = [*problems, *outweighed] if problems and enforcement == "warn" else outweighed
        if warned:
            path, line, _ = item.location  # point the warning at the test, as pytest names it, not at the plugin
            where = os.path.relpath(item.config.rootpath / path, item.config.invocation_params.dir)
            warnings.warn_explicit(
                ConvBudgetWarning("\n".join(warned)), ConvBudgetWarning, filename=where, lineno=(line or 0) + 1,
            )
        return result

    # -- collecting results (serial and xdist alike) -------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from .ci.selection import last_failed_only

        self.session.last_failed_only = last_failed_only(session.config)  # read before this run's results change it
        if self.session.gate is not None and not self.is_worker:
            self._stop_on_sigterm()

    def _stop_on_sigterm(self) -> None:
        """A cancelled CI job gets SIGTERM, which by default ends the process on the spot: no run
        file saying the run was cut short, and a half-written temporary file left behind. While the
        session runs, SIGTERM interrupts it as Ctrl-C does (only where nobody else handles it)."""
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def interrupt(number: int, frame: Any) -> None:
            self.session.signal = signal.Signals(number).name
            raise KeyboardInterrupt(self.session.signal)

        signal.signal(signal.SIGTERM, interrupt)
        self.session.config.add_cleanup(lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.session.note_collection_error(report.nodeid)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.session.note_interruption(excinfo.value)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """The suite's measuring tests in order, before -k, -m or a sharding plugin deselects any."""
        self.session.note_measuring([item.nodeid for item in items if measures(item)])

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.session.note_collected([item.nodeid for item in session.items])

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.session.note_deselected([item.nodeid for item in items])
        self.session.note_measuring([item.nodeid for item in items if measures(item)])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.session.note_report(report)

    # -- the end -----------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            session.config.workeroutput[WORKER_DESELECTED] = self.session.deselected  # type: ignore[attr-defined]
            session.config.workeroutput[WORKER_MEASURING] = list(self.session.measuring)  # type: ignore[attr-defined]
            return
        self.session.finish(session)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        lines = self.session.summary_lines()
        if not lines:
            return
        from .render.phrases import SECTION

        terminalreporter.write_sep("=", SECTION)
        for line in lines:
            terminalreporter.write_line(line)


class XdistHooks:
    """Hooks that exist only under pytest-xdist: the controller learns the collection order."""

    def __init__(self, session: ConvBudgetSession) -> None:
        self._session = session

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self._session.note_collected(list(ids))

    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        """A worker died while running ``crashitem``: the measurements it made never arrive."""
        self._session.note_crashed(crashitem)

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Workers collect and deselect; the controller learns what they left out when they finish."""
        output = getattr(node, "workeroutput", {})
        self._session.note_deselected(list(output.get(WORKER_DESELECTED, [])))
        self._session.note_measuring(list(output.get(WORKER_MEASURING, [])))
