"""``python -m pytest_convbudget diff BASE.json HEAD.json`` (also ``convbudget-diff``).

For workflows that compare the JSON artifacts of two jobs: the same report
as the plugin's (one ``build_report``, one ``[tool.convbudget]``), in any
format of the table of outputs (``render.outputs.OUTPUTS``), and exit 1 where the plugin would fail,
or where the head run ended before measuring its suite (an incomplete run is never a pass).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, Sequence

from ..words.quantity import parse_byte_size, parse_percent

EXIT_REGRESSION = 1
EXIT_USAGE = 2


def _percent(text: str) -> float:
    try:
        return parse_percent(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _byte_size(text: str) -> int:
    try:
        return parse_byte_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _depth(text: str) -> int:
    from ..budgets.pyproject import parse_depth

    try:
        return parse_depth(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from ..render.outputs import OUTPUTS
    from ..words.vocabulary import ENFORCEMENT

    parser.add_argument("base", type=Path, help="the baseline run file (JSON)")
    parser.add_argument("head", type=Path, help="the run file to compare with it (JSON)")
    parser.add_argument("--format", choices=tuple(OUTPUTS), default="text")
    parser.add_argument("--config", type=Path, default=None, metavar="PATH",
                        help="the pyproject.toml whose [tool.convbudget] sets max_increase and its patterns "
                        "(default: found from the current folder the way the pytest plugin finds it)")
    parser.add_argument("--max-increase", type=_percent, default=None, metavar="PCT",
                        help="exit 1 when a measurement grew by more than PCT percent in any figure "
                        "(overrides max_increase in [tool.convbudget])")
    parser.add_argument("--budget", choices=ENFORCEMENT, default="fail",
                        help="as pytest's --conv-budget: fail (default): a head measurement over its budget "
                        "fails (exit 1); warn: it is reported; off: budgets are not checked")
    parser.add_argument("--max-file-size", type=_byte_size, default=None, metavar="SIZE",
                        help="refuse run files bigger than SIZE, unread (default: max_file_size in "
                        "[tool.convbudget], else 64MiB)")
    parser.add_argument("--page-url", default=None, metavar="URL",
                        help="where the HTML page of this comparison is published: the comment links to it")
    parser.add_argument("--depth", type=_depth, default=None, metavar="N",
                        help="where the blocks stop: N module path parts (the comment's bars, the page's first "
                        "level); overrides depth in [tool.convbudget]; default: the top level, descending through "
                        "a block that holds nearly all the cost")
    parser.add_argument("--no-fold", action="store_true",
                        help="show repeated blocks one row each (layers.0.mlp.fc1 ... layers.11.mlp.fc1) instead of "
                        "one folded row (layers.*.mlp.fc1 ×12); as fold = false in [tool.convbudget]")
    parser.set_defaults(run=run_diff)
    return parser


def add_diff_command(commands: Any) -> None:
    configure_parser(commands.add_parser("diff", help="compare two run files (baseline and head)"))


def run_diff(args: argparse.Namespace) -> int:
    from ..budgets.pyproject import find_pyproject_from, load_settings
    from ..ci.runfile import load_run_file
    from ..ci.verdict import GatePolicy, build_report
    from ..render.outputs import render
    from ..words.errors import ConfigError, OutputUnavailable, RunFileError

    try:
        settings = load_settings(args.config if args.config is not None else find_pyproject_from(Path.cwd()))
        limit = settings.max_file_size if args.max_file_size is None else args.max_file_size
        hint = "--max-file-size" if args.max_file_size is not None else "--max-file-size or max_file_size in [tool.convbudget]"
        base = load_run_file(args.base, "baseline file", limit, hint)
        head = load_run_file(args.head, "run file", limit, hint)
    except (RunFileError, ConfigError) as error:
        print(f"convbudget diff: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    report = build_report(head, base, GatePolicy.from_settings(settings, args.max_increase, args.budget), str(args.base))
    report = dataclasses.replace(
        report, page_url=args.page_url or None, fold=settings.fold and not args.no_fold,
        depth=settings.depth if args.depth is None else args.depth,
    )
    try:
        text = render(report, args.format)
    except OutputUnavailable as error:  # --format html without Jinja2: say what to install
        print(f"convbudget diff: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    _write_utf8(text)
    return EXIT_REGRESSION if report.failed or report.incomplete else 0


def _write_utf8(text: str) -> None:
    """UTF-8 whatever the console's encoding: the comment's arrows must survive a
    Windows runner redirecting stdout to a file."""
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    stream.write(text.encode("utf-8"))
    stream.flush()


def console_main(argv: Sequence[str] | None = None) -> int:
    """The ``convbudget-diff`` console script."""
    parser = configure_parser(argparse.ArgumentParser(prog="convbudget-diff", description=__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
