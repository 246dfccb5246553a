"""``python -m pytest_convbudget merge SHARD.json... -o RUN.json``: shards' run files as one run's.

A suite split over CI jobs (a matrix, pytest-split) writes one run file per
shard; each knows which measuring tests it did not run. Merged, they are the
run file one whole run would have written: ``diff``, the comment, the JSON
and the page read it as they read any run, and a baseline job can keep it as
its baseline (``--whole-suite`` refuses one that misses tests).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..words.quantity import parse_byte_size

EXIT_USAGE = 2


def _byte_size(text: str) -> int:
    try:
        return parse_byte_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_merge_command(commands: Any) -> None:
    merge = commands.add_parser("merge", help="join the run files of a suite's shards into one run file")
    merge.add_argument("shards", type=Path, nargs="+", metavar="RUN.json", help="the shards' run files")
    merge.add_argument("-o", "--output", type=Path, required=True, metavar="PATH",
                       help="where to write the merged run file (atomically)")
    merge.add_argument("--whole-suite", action="store_true",
                       help="refuse (write nothing, exit 2) unless the shards together ran every measuring test "
                       "of the whole suite: for a baseline job")
    merge.add_argument("--allow-incomplete", action="store_true",
                       help="merge a shard whose session ended early (interrupted, a crashed worker, collection "
                       "errors, -x): refused by default; the merged run's verdict then names it")
    merge.add_argument("--max-file-size", type=_byte_size, default=None, metavar="SIZE",
                       help="refuse run files bigger than SIZE, unread (default: max_file_size in "
                       "[tool.convbudget], else 64MiB)")
    merge.set_defaults(run=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    from ..budgets.pyproject import find_pyproject_from, load_settings
    from ..ci.runfile import load_run_file, merge_shards, write_atomically
    from ..render import phrases
    from ..words.errors import ConfigError, RunFileError

    try:
        limit = args.max_file_size
        if limit is None:
            limit = load_settings(find_pyproject_from(Path.cwd())).max_file_size
        hint = "--max-file-size" if args.max_file_size is not None else "--max-file-size or max_file_size in [tool.convbudget]"
        shards = [(str(path), load_run_file(path, "run file", limit, hint)) for path in args.shards]
        merged = merge_shards(shards)
        if merged.incomplete and not args.allow_incomplete:
            raise RunFileError(f"{phrases.incomplete_refusal(merged.incomplete, 'allow-incomplete')}; "
                               f"{args.output} not written")
    except (RunFileError, ConfigError) as error:
        print(f"convbudget merge: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    coverage = merged.coverage
    if args.whole_suite and (coverage is None or not coverage.whole):
        print(f"convbudget merge: error: {phrases.not_whole_suite(coverage)}; {args.output} not written",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        write_atomically(args.output, merged.to_json())
    except OSError as error:
        print(f"convbudget merge: error: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    print(phrases.merged_shards(len(shards), args.output, len(merged.entries), coverage))
    return 0
