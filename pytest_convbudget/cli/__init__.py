"""``python -m pytest_convbudget``: numbers now, without writing a test.

Three commands, each in its own module: ``profile`` (one model's table),
``diff`` (two run files judged as the plugin judges them; also installed as
``convbudget-diff``) and ``merge`` (shards' run files joined into one). Every error a user can cause is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..words.errors import CliError, SpecError

PROG = "python -m pytest_convbudget"


def build_parser() -> argparse.ArgumentParser:
    from .diff import add_diff_command
    from .merge import add_merge_command
    from .profile import add_profile_command

    parser = argparse.ArgumentParser(prog=PROG, description="Exact conv params, FLOPs and MACs of PyTorch models.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_profile_command(commands)
    add_diff_command(commands)
    add_merge_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # profile --timeout runs them again in a child
    try:
        return int(args.run(args))
    except (CliError, SpecError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
