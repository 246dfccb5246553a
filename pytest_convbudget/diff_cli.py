"""``python -m pytest_convbudget diff BASE.json HEAD.json`` (also ``convbudget-diff``).

For workflows that compare the JSON artifacts of two jobs: the same
comparison as the plugin's, as text, markdown or JSON, and a non-zero exit
past ``--max-increase``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from .quantity import parse_percent

EXIT_REGRESSION = 1
EXIT_USAGE = 2


def _percent(text: str) -> float:
    try:
        return parse_percent(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("base", type=Path, help="the baseline run file (JSON)")
    parser.add_argument("head", type=Path, help="the run file to compare with it (JSON)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument("--max-increase", type=_percent, default=None, metavar="PCT",
                        help="exit 1 when a measurement grew by more than PCT percent in any figure")
    parser.set_defaults(run=run_diff)
    return parser


def add_diff_command(commands: Any) -> None:
    configure_parser(commands.add_parser("diff", help="compare two run files (baseline and head)"))


def comparison_json(comparison: Any, regressions: Sequence[Any]) -> dict[str, Any]:
    def figures(change: Any) -> dict[str, Any]:
        return {f.figure: {"before": f.before, "after": f.after, "delta": f.delta} for f in change.figures}

    return {
        "changed": [
            {"test_id": c.test_id, "name": c.name, "figures": figures(c),
             "layers": [{"name": layer.name, "status": layer.status} for layer in c.layers]}
            for c in comparison.changed
        ],
        "unchanged": len(comparison.unchanged),
        "added": [{"test_id": e.measurement.test_id, "name": e.measurement.name} for e in comparison.added],
        "removed": [{"test_id": e.measurement.test_id, "name": e.measurement.name} for e in comparison.removed],
        "regressions": [r.message() for r in regressions],
    }


def run_diff(args: argparse.Namespace) -> int:
    from .compare import compare_runs
    from .diff_text import render_comparison
    from .markdown import render_markdown
    from .runfile import RunFileError, load_run_file

    try:
        base = load_run_file(args.base, "baseline file")
        head = load_run_file(args.head, "run file")
    except RunFileError as error:
        print(f"convbudget diff: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    comparison = compare_runs(base, head)
    regressions = comparison.regressions(None, override=args.max_increase) if args.max_increase is not None else []
    if args.format == "json":
        text = json.dumps(comparison_json(comparison, regressions), indent=2, sort_keys=True) + "\n"
    elif args.format == "markdown":
        over = sum(entry.measurement.over_budget for entry in head.entries)
        text = render_markdown(comparison, regressions, over, len(head.entries))
    else:
        text = "\n".join(render_comparison(comparison, regressions, str(args.base))) + "\n"
    _write_utf8(text)
    return EXIT_REGRESSION if regressions else 0


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
