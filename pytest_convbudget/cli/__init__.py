"""``python -m pytest_convbudget``: numbers now, without writing a test."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..engine.kinds import KINDS, parse_count
from ..words.vocabulary import CountError
from .loading import SpecError, load_object

if TYPE_CHECKING:
    from ..engine.results import ConvCost

PROG = "python -m pytest_convbudget"


class CliError(Exception):
    """A one-line error for the user; exits with status 2."""


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1x3x224x224"`` -> ``(1, 3, 224, 224)``; every size a positive integer."""
    parts = text.strip().lower().split("x")
    if not text.strip() or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise CliError(f"bad --input shape {text!r}: expected positive sizes joined by x, e.g. 1x3x224x224")
    return tuple(int(part) for part in parts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Exact conv params, FLOPs and MACs of PyTorch models.")
    commands = parser.add_subparsers(dest="command", required=True)
    prof = commands.add_parser("profile", help="profile one model and print its per-layer table")
    prof.add_argument("spec", help="path/to/models.py:factory or package.module:factory")
    prof.add_argument("--input", action="append", required=True, metavar="SHAPE",
                      help="input shape such as 1x3x224x224; repeat for several inputs")
    prof.add_argument("--device", default="auto", help="auto (default), meta, cpu, cuda or cuda:N")
    prof.add_argument("--batch-size", type=int, default=None, help="divide totals by this instead of the input's batch")
    prof.add_argument("--count", action="append", default=None, metavar="KIND",
                      help=f"an op kind to count ({', '.join(KINDS)}) or 'all'; repeat for several; default: conv")
    prof.add_argument("--json", action="store_true", help="print the result as JSON (exact integers)")
    prof.add_argument("--html", type=Path, default=None, metavar="PATH",
                      help="also write the profile as one self-contained HTML page to PATH")
    from .diff import add_diff_command

    add_diff_command(commands)
    return parser


def run_profile(args: argparse.Namespace) -> int:
    shapes = [parse_shape(text) for text in args.input]
    count = None
    if args.count is not None:
        try:
            count = parse_count(args.count)
        except CountError as error:
            raise CliError(f"--count: {error}") from None
    factory = load_object(args.spec)
    import torch
    from torch import nn

    from ..words.vocabulary import ProfileError
    from ..engine.profiler import profile

    if isinstance(factory, nn.Module):
        model = factory
    elif callable(factory):
        try:
            model = factory()
        except Exception as error:
            raise CliError(f"factory {args.spec} raised {type(error).__name__}: {error}") from error
        if not isinstance(model, nn.Module):
            raise CliError(f"factory {args.spec} returned {type(model).__name__}, not a torch.nn.Module")
    else:
        raise CliError(f"{args.spec} is neither a torch.nn.Module nor a factory that returns one")
    tensor_device = "meta" if args.device == "meta" else "cpu"
    inputs = [torch.randn(shape, device=tensor_device) for shape in shapes]
    try:
        cost = profile(model, *inputs, device=args.device, batch_size=args.batch_size,
                       count=count)
    except ProfileError as error:
        raise CliError(str(error)) from error
    except Exception as error:
        raise CliError(f"the forward of {args.spec} raised {type(error).__name__}: {error}") from error
    if args.html is not None:  # before printing: a bad path is the one line a mistake gets
        write_profile_page(args.html, args.spec, cost)
    print(json.dumps(cost.to_dict(), indent=2, sort_keys=True) if args.json else cost.table())
    return 0


def write_profile_page(path: Path, spec: str, cost: ConvCost) -> None:
    """The profile as the HTML report draws a run: one measurement, no limits, no baseline,
    judged by the same ``build_report`` and drawn by the same renderer, written atomically."""
    from ..gate import not_written
    from ..render.html.page import HTML_REPORT, HtmlReportError
    from ..budgets.measurement import Measurement
    from ..render.outputs import render
    from ..ci.runfile import RunEntry, RunFile, write_atomically
    from ..ci.verdict import GatePolicy, build_report

    measurement = Measurement(test_id=spec, name=cost.model, index=0, cost=cost, per="sample")
    report = build_report(RunFile((RunEntry(measurement, "passed"),)), None, GatePolicy())
    try:
        write_atomically(path, render(report, "html"))
    except HtmlReportError as error:
        raise CliError(not_written(HTML_REPORT, path, str(error))) from None
    except OSError as error:
        raise CliError(not_written(HTML_REPORT, path, error.strerror or str(error))) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "profile":
            return run_profile(args)
        return int(args.run(args))
    except (CliError, SpecError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
